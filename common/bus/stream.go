package bus

import (
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// On JetStream every channel of the bus is one subject of one stream:
// channel C (ticket:created, parked.orders-service) is the NATS subject
// SubjectPrefix+C in the stream StreamName.
const (
	StreamName    = "TICKETING"
	SubjectPrefix = "ticketing."
)

// Limits of the stream (StreamConfig), decided as a marketplace would: a
// week of history (the longest replay, the revocation list's, is a session's
// 12 h; expiration's is an order's 15 min), bounded in bytes so a runaway
// publisher cannot fill the volume, and a duplicate window longer than a
// crashed relay takes to come back (a pod restart with back-off), within
// which a second publication of an event id is dropped.
const (
	StreamMaxAge     = 7 * 24 * time.Hour
	StreamMaxBytes   = 8 << 30
	StreamMaxMsgSize = 1 << 20
	DuplicateWindow  = 15 * time.Minute
)

// StreamConfig describes the bus's stream, the one place it is described:
// every client creates or updates it to this at connect (idempotent), on
// file storage with replicas copies (3 on a 3-node cluster). Nobody may
// delete or purge its messages: DenyDelete and DenyPurge hold even for a
// user whose permissions would allow it.
func StreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Ticketing's events (common/bus)",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      StreamMaxAge,
		MaxBytes:    StreamMaxBytes,
		MaxMsgSize:  StreamMaxMsgSize,
		Duplicates:  DuplicateWindow,
		Replicas:    max(replicas, 1),
		DenyDelete:  true,
		DenyPurge:   true,
	}
}

// streamSubject is channel's subject in the stream.
func streamSubject(channel string) string { return SubjectPrefix + channel }

var notInName = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// ConsumerName is the durable consumer of queue on channel: JetStream keeps
// one durable position per (queue group, subject), as NATS Streaming keeps
// one per durable queue subscription. A name may not hold '.', ':' and the
// like, which become '_'.
func ConsumerName(queue, channel string) string {
	return notInName.ReplaceAllString(queue, "_") + "__" + notInName.ReplaceAllString(channel, "_")
}
