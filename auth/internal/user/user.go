// Package user holds the rules about users: what a valid email is, how
// passwords are hashed and compared, and the errors the rest of auth speaks in.
package user

import (
	"errors"
	"strings"
	"time"
)

// User is an account. PasswordHash never leaves the service.
type User struct {
	ID           string
	Email        string
	PasswordHash string
	CreatedAt    time.Time
}

var (
	// ErrEmailInUse: another account has this email, in any letter case.
	ErrEmailInUse = errors.New("email in use")
	// ErrInvalidCredentials: unknown email or wrong password; which one is
	// deliberately not said.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrNotFound: no user with that email.
	ErrNotFound = errors.New("user not found")
)

// NormalizeEmail trims and lower-cases an email, so one address is one account.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}
