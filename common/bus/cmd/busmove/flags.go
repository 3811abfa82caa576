package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"ticketing.dev/common/events"
)

var errHelp = errors.New("help")

// options are busmove's flags and environment.
type options struct {
	stanURL, jsURL, cluster string
	user, password          string
	stanUser, stanPassword  string
	replicas                int
	queues                  []string
	subjects                []events.Subject
	since                   time.Duration
	idle, timeout           time.Duration
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	flags := flag.NewFlagSet("busmove", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&o.stanURL, "stan", getenv("STAN_URL"), "NATS Streaming's URL, the broker moved from (default $STAN_URL)")
	flags.StringVar(&o.jsURL, "jetstream", getenv("NATS_URL"), "JetStream's URL, the broker moved to (default $NATS_URL)")
	flags.StringVar(&o.cluster, "cluster", orDefault(getenv("NATS_CLUSTER_ID"), "ticketing"), "NATS Streaming cluster id (default $NATS_CLUSTER_ID)")
	flags.IntVar(&o.replicas, "replicas", 0, "the stream's replicas if busmove creates it; an existing stream is left as it is (default $JETSTREAM_REPLICAS, else 1)")
	flags.DurationVar(&o.since, "since", 0, "copy the history of the -subject channels stored this long ago and since, acking nothing, instead of what queue groups have not acked")
	flags.DurationVar(&o.idle, "idle", 3*time.Second, "a channel is done once nothing more came for this long")
	flags.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long")
	flags.Func("queue", "a queue group whose unacked events to copy (repeatable; default every service's)", func(q string) error {
		if _, ok := consumes[q]; !ok {
			return fmt.Errorf("no service consumes with queue group %q (one of %v)", q, queueOrder)
		}
		o.queues = append(o.queues, q)
		return nil
	})
	flags.Func("subject", "a channel whose history -since copies (repeatable)", func(s string) error {
		o.subjects = append(o.subjects, events.Subject(s))
		return nil
	})
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		return o, errHelp
	} else if err != nil {
		return o, err
	}
	o.user, o.password = getenv("NATS_USER"), getenv("NATS_PASSWORD")
	// One secret (nats-users) holds both brokers' passwords in Kubernetes;
	// STAN_USER and STAN_PASSWORD are for brokers that differ.
	o.stanUser, o.stanPassword = orDefault(getenv("STAN_USER"), o.user), orDefault(getenv("STAN_PASSWORD"), o.password)
	if o.replicas == 0 {
		fmt.Sscan(orDefault(getenv("JETSTREAM_REPLICAS"), "1"), &o.replicas)
	}
	return o, o.check(flags.Args())
}

func (o *options) check(rest []string) error {
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected arguments %v", rest)
	case o.stanURL == "":
		return errors.New("no NATS Streaming broker to move from: set STAN_URL or -stan")
	case o.jsURL == "":
		return errors.New("no JetStream broker to move to: set NATS_URL or -jetstream")
	case o.stanURL == o.jsURL:
		return errors.New("-stan and -jetstream name the same broker")
	case o.since < 0 || o.idle <= 0 || o.timeout <= 0:
		return errors.New("-since, -idle and -timeout must be positive")
	}
	return o.checkMode()
}

// checkMode holds the flags to one of the two modes: each -queue's unacked
// events (the default: every group), or -since's history of each -subject.
func (o *options) checkMode() error {
	switch {
	case o.since > 0 && len(o.queues) > 0:
		return errors.New("-since copies history and acks nothing: it takes -subject, not -queue")
	case o.since > 0 && len(o.subjects) == 0:
		return errors.New("-since needs at least one -subject")
	case o.since == 0 && len(o.subjects) > 0:
		return errors.New("-subject goes with -since; without it busmove copies each -queue's channels")
	}
	if len(o.queues) == 0 && o.since == 0 {
		o.queues = slices.Clone(queueOrder)
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
