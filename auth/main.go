// Command auth owns users, passwords and sessions.
package main

import (
	"ticketing.dev/auth/internal/app"
	"ticketing.dev/common/server"
)

func main() { server.Main("auth", app.Service.Run) }
