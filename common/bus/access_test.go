package bus_test

// The broker's access control, against a real NATS Streaming server that
// authenticates as the runner's and Kubernetes' do (testenv.NewSecuredNATS,
// configured by bus.ServerConfig).

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/stan.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
)

// securedBus connects as user. A refused publish is never acked, so it fails
// after PubAckWait: short here.
func securedBus(t *testing.T, n *securedBroker, user string) *bus.Client {
	t.Helper()
	cfg := n.BusConfigAs(t, user)
	cfg.PubAckWait = time.Second
	return testenv.ConnectBus(t, cfg)
}

func envelope(t *testing.T, subject events.Subject) events.Envelope {
	t.Helper()
	return events.Envelope{ID: testenv.RandomName("event"), Subject: subject, OccurredAt: time.Now().UTC(), Data: []byte(`{}`)}
}

func TestTicketsCannotPublishAPayment(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		n := tr.secured(t)
		tickets := securedBus(t, n, "tickets")
		orders := securedBus(t, n, "orders")
		got := testenv.Record(t, orders, events.SubjectPaymentCreated)

		err := tickets.Publish(testenv.Context(t), envelope(t, events.SubjectPaymentCreated))
		require.Error(t, err, "the broker must refuse payment:created from tickets")
		assert.ErrorIs(t, err, tr.refused(), "refused by the broker: never acknowledged")

		// payments may, and orders receives it; tickets' forgery never arrived.
		payments := securedBus(t, n, "payments")
		require.NoError(t, payments.Publish(testenv.Context(t), envelope(t, events.SubjectPaymentCreated)))
		require.Eventually(t, func() bool { return len(got.Envelopes()) >= 1 }, testenv.Wait, testenv.Tick)
		assert.Len(t, got.Envelopes(), 1, "only payments' event is on the channel")
	})
}

func TestEveryServicePublishesWhatItOwnsAndNothingElse(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		n := tr.secured(t)
		for _, svc := range bus.Services {
			t.Run(svc.Name, func(t *testing.T) {
				c := securedBus(t, n, svc.Name)
				for _, subject := range svc.Publishes {
					assert.NoError(t, c.Publish(testenv.Context(t), envelope(t, subject)), "%s publishing its own %s", svc.Name, subject)
				}
				foreign := events.SubjectPaymentCreated
				if svc.Name == "payments" {
					foreign = events.SubjectOrderCompleted
				}
				assert.Error(t, c.Publish(testenv.Context(t), envelope(t, foreign)), "%s publishing %s", svc.Name, foreign)
			})
		}
	})
}

func TestAServiceConsumesAndParksWithItsOwnCredentials(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		n := tr.secured(t)
		tickets := securedBus(t, n, "tickets")
		orders := securedBus(t, n, "orders")

		applied := make(chan string, 1)
		require.NoError(t, orders.Subscribe(bus.Subscription{
			Subject: events.SubjectTicketCreated, Queue: "orders-service", AckWait: time.Second,
			Handler: func(_ context.Context, m bus.Message) error { applied <- m.ID; return nil },
		}))
		// A poison message on another subject it consumes parks on its own
		// parked channel, which it may write.
		require.NoError(t, orders.Subscribe(bus.Subscription{
			Subject: events.SubjectTicketUpdated, Queue: "orders-service", AckWait: time.Second, MaxDeliveries: 1,
			Handler: func(context.Context, bus.Message) error { return errors.New("poison") },
		}))

		created := envelope(t, events.SubjectTicketCreated)
		require.NoError(t, tickets.Publish(testenv.Context(t), created))
		select {
		case id := <-applied:
			assert.Equal(t, created.ID, id)
		case <-time.After(testenv.Wait):
			t.Fatal("orders never received ticket:created")
		}
		require.NoError(t, tickets.Publish(testenv.Context(t), envelope(t, events.SubjectTicketUpdated)))
		require.Eventually(t, func() bool { return orders.Stats().Parked == 1 }, testenv.Wait, testenv.Tick, "orders parks on parked.orders-service")
	})
}

// A durable queue group's position survives its members: the broker does not
// let a service unsubscribe it (which would delete it), only close its
// subscription, and the group resumes where it was.
func TestAServiceCannotDeleteItsDurableQueueGroup(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		n := tr.secured(t)
		if tr.jetstream() {
			cannotDeleteJetStreamConsumer(t, n)
			return
		}
		c := n.Credential(t, "orders")
		// ConnectWait also bounds the refused unsubscribe below; 1 s was too
		// short to connect on a loaded machine (-race, shared cores).
		conn, err := stan.Connect(testenv.ClusterID, testenv.RandomName("orders"), stan.NatsURL(n.URL),
			stan.NatsOptions(nats.UserInfo(c.User, c.Password)), stan.ConnectWait(5*time.Second))
		require.NoError(t, err)
		defer conn.Close()
		sub, err := conn.QueueSubscribe(string(events.SubjectTicketCreated), "orders-service", func(*stan.Msg) {}, stan.DurableName("orders-service"))
		require.NoError(t, err)
		assert.ErrorIs(t, sub.Unsubscribe(), stan.ErrUnsubReqTimeout, "the broker refuses the unsubscribe request")
		require.NoError(t, sub.Close(), "closing, which keeps the group, is allowed")
	})
}

// On JetStream the group's position is its durable consumer: orders may
// create it and pull from it, but neither delete it nor the stream, nor
// purge the stream.
func cannotDeleteJetStreamConsumer(t *testing.T, n *securedBroker) {
	orders := securedBus(t, n, "orders")
	require.NoError(t, orders.Subscribe(bus.Subscription{Subject: events.SubjectTicketCreated, Queue: "orders-service",
		Handler: func(context.Context, bus.Message) error { return nil }}))
	c := n.Credential(t, "orders")
	nc, err := nats.Connect(n.URL, nats.UserInfo(c.User, c.Password))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	name := bus.ConsumerName("orders-service", string(events.SubjectTicketCreated))
	require.Eventually(t, func() bool {
		_, err := js.Consumer(testenv.Context(t), bus.StreamName, name)
		return err == nil
	}, testenv.Wait, testenv.Tick, "the client made the group's durable consumer")

	ctx, cancel := context.WithTimeout(testenv.Context(t), time.Second)
	defer cancel()
	assert.Error(t, js.DeleteConsumer(ctx, bus.StreamName, name), "the broker refuses deleting the consumer")
	assert.Error(t, js.DeleteStream(ctx, bus.StreamName), "and deleting the stream")
	stream, err := js.Stream(testenv.Context(t), bus.StreamName)
	require.NoError(t, err)
	assert.Error(t, stream.Purge(ctx), "and purging it")
	_, err = js.Consumer(testenv.Context(t), bus.StreamName, name)
	assert.NoError(t, err, "the consumer, and the group's position, are still there")
}

func TestAClientWithoutValidCredentialsCannotConnect(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		n := tr.secured(t)
		for name, opt := range map[string]nats.Option{
			"no credentials": func(*nats.Options) error { return nil },
			"wrong password": nats.UserInfo("payments", "guessed"),
			"unknown user":   nats.UserInfo("intruder", n.Credential(t, "payments").Password),
		} {
			t.Run(name, func(t *testing.T) {
				err := tr.rawConnect(n.URL, opt)
				require.Error(t, err)
				assert.ErrorIs(t, err, nats.ErrAuthorization)
			})
		}

		// And the bus client, which keeps trying, never becomes ready.
		cfg := tr.busConfig(n.URL)
		cfg.ReconnectWait = 50 * time.Millisecond
		c := bus.New(cfg)
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		ctx, cancel := context.WithTimeout(testenv.Context(t), 2*time.Second)
		defer cancel()
		assert.Error(t, c.WaitConnected(ctx))
		assert.ErrorIs(t, c.Check(ctx), bus.ErrNotConnected)
	})
}

func TestServerConfigNamesItsMistakes(t *testing.T) {
	_, err := bus.ServerConfig("ticketing", []bus.Credential{{User: "tickets", Password: "p"}})
	assert.ErrorContains(t, err, `"stan" is missing`)
	_, err = bus.ServerConfig("ticketing", []bus.Credential{{User: "stan", Password: "p"}, {User: "mallory", Password: "p"}})
	assert.ErrorContains(t, err, `"mallory" is not a broker user`)
	_, err = bus.ServerConfig("ticketing", []bus.Credential{{User: "stan"}})
	assert.ErrorContains(t, err, "needs a name and a password")

	conf, err := bus.ServerConfig("ticketing", []bus.Credential{{User: "stan", Password: "$STAN_PW"}, {User: "payments", Password: "$PAYMENTS_PW"}})
	require.NoError(t, err)
	assert.Contains(t, conf, `password: $PAYMENTS_PW`, "a $ password stays a variable the server reads from its environment")
	assert.Contains(t, conf, `"_STAN.pub.ticketing.payment:created"`)
	assert.NotContains(t, conf, `"_STAN.pub.ticketing.>"`, "no service may publish everywhere")
}

// The broker configurations Kubernetes mounts, each with every password a
// variable the server reads from its environment, which the StatefulSet fills
// from the nats-users Secret: NATS Streaming's (infra/k8s/base/nats/nats.conf,
// bus.ServerConfig; a clustered node's in the prod overlay,
// bus.ClusteredServerConfig) and JetStream's (infra/k8s/components/jetstream/nats.conf,
// bus.JetStreamServerConfig). The deployment has no observer.
var kubernetesConfigs = map[string]func([]bus.Credential) (string, error){
	"../../infra/k8s/base/nats/nats.conf": func(creds []bus.Credential) (string, error) {
		return bus.ServerConfig("ticketing", creds)
	},
	// The production overlay's three clustered nodes read this one instead.
	"../../infra/k8s/overlays/prod/nats-cluster.conf": func(creds []bus.Credential) (string, error) {
		return bus.ClusteredServerConfig("ticketing", creds)
	},
	"../../infra/k8s/components/jetstream/nats.conf": func(creds []bus.Credential) (string, error) {
		// The stan key authenticates the nodes' routes, not a client.
		return bus.JetStreamServerConfig(slices.DeleteFunc(slices.Clone(creds), func(c bus.Credential) bool { return c.User == "stan" }))
	},
}

// The committed files are what the access table renders, so the permissions
// Kubernetes enforces are the ones tested above. UPDATE_K8S=1 rewrites them.
func TestTheKubernetesBrokerConfigIsTheTestedOne(t *testing.T) {
	var creds []bus.Credential
	for _, user := range bus.Users() {
		if user == bus.ObserverUser {
			continue
		}
		creds = append(creds, bus.Credential{User: user, Password: "$" + strings.ToUpper(user) + "_PASSWORD"})
	}
	for path, render := range kubernetesConfigs {
		want, err := render(creds)
		require.NoError(t, err)
		if os.Getenv("UPDATE_K8S") == "1" {
			require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, want, string(got), "%s: regenerate with: UPDATE_K8S=1 go test ./common/bus -run KubernetesBrokerConfig", path)
	}
}
