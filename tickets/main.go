// Command tickets owns ticket listings: who sells them, their price, and
// whether one is reserved or sold.
package main

import (
	"ticketing.dev/common/server"
	"ticketing.dev/tickets/internal/app"
)

func main() { server.Main("tickets", app.Service.Run) }
