package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"

	"ticketing.dev/common/errs"
)

// DecodeJSON reads exactly one JSON object from the body into dst, strictly:
// unknown fields, wrong types, trailing data, a body over the limit set by
// middleware.BodyLimit and a missing or non-JSON content type are all client errors in
// the common body. It then validates dst with its `validate` tags.
func DecodeJSON(r *http.Request, dst any) error {
	// No Content-Type is no JSON either: a page on a sibling host can send
	// one without a preflight (middleware.RefuseCrossSite refuses it first).
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		return errs.UnsupportedMediaType()
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errs.PayloadTooLarge()
		}
		return errs.BadRequest("Request body must contain a single JSON object")
	}
	if n, ok := dst.(Normalizer); ok {
		n.Normalize()
	}
	return Validate(dst)
}

// Normalizer is implemented by request types that tidy their input (trim,
// lower-case) before it is validated.
type Normalizer interface {
	Normalize()
}

func decodeError(err error) error {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		tooLarge  *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooLarge):
		return errs.PayloadTooLarge()
	case errors.Is(err, io.EOF):
		return errs.BadRequest("Request body must not be empty")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return errs.BadRequest("Request body is not valid JSON")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return errs.BadRequest("Request body must be a JSON object")
		}
		return errs.Validation(typeErr.Field, typeMessage(typeErr.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.Validation(field, "is not a known field")
	default:
		// A json.Unmarshaler of ours (a decimal price, an id) refusing its input.
		var invalid *errs.RequestValidationError
		if errors.As(err, &invalid) {
			return invalid
		}
		return errs.BadRequest("Request body is not valid JSON")
	}
}

// InvalidJSONMessager is implemented by types whose UnmarshalJSON refuses
// some well-typed input (a price with three decimals) with a
// *json.UnmarshalTypeError naming the type itself: the client reads the rule
// instead of a bare type name.
type InvalidJSONMessager interface {
	InvalidJSONMessage() string
}

func typeMessage(t reflect.Type) string {
	if t != nil {
		if m, ok := reflect.Zero(t).Interface().(InvalidJSONMessager); ok {
			return m.InvalidJSONMessage()
		}
	}
	return fmt.Sprintf("must be a %s", jsonKind(t))
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "list"
	default:
		return "object"
	}
}

var (
	validateOnce sync.Once
	validate     *validator.Validate
)

func validatorInstance() *validator.Validate {
	validateOnce.Do(func() {
		validate = validator.New(validator.WithRequiredStructEnabled())
		// Report fields by their JSON names, as the client sent them.
		validate.RegisterTagNameFunc(func(f reflect.StructField) string {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				return ""
			}
			if name == "" {
				return f.Name
			}
			return name
		})
	})
	return validate
}

// Validate checks v's `validate` tags and reports every failure as a
// RequestValidationError naming the JSON field.
func Validate(v any) error {
	err := validatorInstance().Struct(v)
	if err == nil {
		return nil
	}
	var fieldErrs validator.ValidationErrors
	if !errors.As(err, &fieldErrs) {
		return fmt.Errorf("validating request: %w", err)
	}
	out := &errs.RequestValidationError{}
	for _, fe := range fieldErrs {
		out.Fields = append(out.Fields, errs.FieldError{Field: fieldPath(fe), Message: message(fe)})
	}
	return out
}

// fieldPath drops the struct name from validator's namespace ("req.ticket.id" -> "ticket.id").
func fieldPath(fe validator.FieldError) string {
	_, path, found := strings.Cut(fe.Namespace(), ".")
	if !found {
		return fe.Field()
	}
	return path
}

func message(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "email":
		return "must be a valid email address"
	case "min":
		if fe.Kind() == reflect.String {
			return fmt.Sprintf("must be at least %s characters", fe.Param())
		}
		return fmt.Sprintf("must be at least %s", fe.Param())
	case "max":
		if fe.Kind() == reflect.String {
			return fmt.Sprintf("must be at most %s characters", fe.Param())
		}
		return fmt.Sprintf("must be at most %s", fe.Param())
	case "gt":
		return fmt.Sprintf("must be greater than %s", fe.Param())
	case "gte":
		return fmt.Sprintf("must be at least %s", fe.Param())
	case "lte":
		return fmt.Sprintf("must be at most %s", fe.Param())
	case "hexadecimal", "mongodb":
		return "must be a valid id"
	case "oneof":
		return "must be one of: " + fe.Param()
	default:
		return "is invalid (" + fe.Tag() + ")"
	}
}
