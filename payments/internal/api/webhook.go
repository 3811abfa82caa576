package api

import (
	"errors"
	"io"
	"net/http"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/httpx"
	"ticketing.dev/payments/internal/gateway"
)

// WebhookPath is Stripe's webhook route: signed by Stripe, so exempt from
// sessions and the browser checks (app.Wire exempts it).
const WebhookPath = "/api/payments/webhook"

// webhook verifies a Stripe event's signature and applies it once. A bad,
// missing or stale signature is 400 with no effect; an event not applied
// (database down) is 503, and Stripe delivers it again.
func (h handlers) webhook(w http.ResponseWriter, r *http.Request) error {
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errs.PayloadTooLarge()
		}
		return errs.BadRequest("Could not read the request body")
	}
	ev, err := h.Webhooks.Event(payload, r.Header.Get("Stripe-Signature"))
	if errors.Is(err, gateway.ErrBadSignature) {
		httpx.LoggerFrom(r.Context()).Warn("webhook refused", "err", err)
		return errs.BadRequest("Invalid Stripe-Signature")
	}
	if err != nil {
		return errs.BadRequest("Malformed event")
	}
	if err := h.Payer.HandleEvent(r.Context(), ev); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"received": true})
	return nil
}
