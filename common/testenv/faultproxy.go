package testenv

import (
	"bufio"
	"bytes"
	bin "encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// FaultProxy stands between a client under test and a real server and brings
// the faults production networks bring, on command: an answer lost after the
// server acted on the request, latency, a connection that hangs, a server that
// cannot be reached. The tests' servers never misbehave by themselves, and a
// stand-in server would prove nothing about the real one, so the fault is put
// on the wire instead: the bytes that do pass are the real server's.
//
// It forwards any TCP protocol. Over the MongoDB wire protocol it also reads
// message boundaries, which is what LoseAnswer needs to lose exactly the
// answer to one command.
type FaultProxy struct {
	// Addr is where clients connect instead of the server (host:port).
	Addr string

	target string
	mongo  bool
	ln     net.Listener

	mu       sync.Mutex
	conns    map[*proxiedConn]struct{}
	cut      bool
	stalled  chan struct{} // non-nil while stalled; closed by Resume
	delay    time.Duration
	lose     map[aim]int // answers still to lose
	stallAt  map[aim]bool
	lost     int
	accepted int
	seen     map[aim]int // requests forwarded, by command and collection
}

// NewFaultProxy forwards a fresh loopback port to target (host:port) until
// the test ends.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	return newFaultProxy(t, target, false)
}

// NewMongoFaultProxy is a FaultProxy that understands the MongoDB wire
// protocol, for LoseAnswer.
func NewMongoFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	return newFaultProxy(t, target, true)
}

// ProxiedDatabaseURI is DatabaseURI reached through a MongoDB fault proxy:
// a database of the test's own on the shared server, and the proxy that
// stands in front of it.
func ProxiedDatabaseURI(t testing.TB) (string, *FaultProxy) {
	t.Helper()
	return ProxyMongoURI(t, DatabaseURI(t))
}

// ProxyMongoURI puts a MongoDB fault proxy in front of the server uri names
// and returns the uri that reaches it through the proxy.
func ProxyMongoURI(t testing.TB, uri string) (string, *FaultProxy) {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("testenv: parsing %s: %v", uri, err)
	}
	p := NewMongoFaultProxy(t, u.Host)
	u.Host = p.Addr
	q := u.Query()
	// The proxy is one address; the driver must not go looking for others.
	q.Set("directConnection", "true")
	u.RawQuery = q.Encode()
	return u.String(), p
}

func newFaultProxy(t testing.TB, target string, mongo bool) *FaultProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: fault proxy: %v", err)
	}
	p := &FaultProxy{
		Addr: ln.Addr().String(), target: target, mongo: mongo, ln: ln,
		conns: map[*proxiedConn]struct{}{}, lose: map[aim]int{}, stallAt: map[aim]bool{}, seen: map[aim]int{},
	}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// aim names the MongoDB requests a fault is aimed at: a command
// ("insert", "update", "findAndModify", ...) on one collection, or on any
// when collection is "".
type aim struct{ command, collection string }

// LoseAnswer makes the proxy forward the next n requests whose MongoDB
// command is command to the server, wait for the server's answer, and then
// drop the connection instead of delivering it: the client sees a network
// error for a command the server carried out. Only for a proxy from
// NewMongoFaultProxy.
func (p *FaultProxy) LoseAnswer(command string, n int) { p.LoseAnswerOn(command, "", n) }

// LoseAnswerOn is LoseAnswer for command on one collection only, so that a
// test can aim at one write among the several a request makes.
func (p *FaultProxy) LoseAnswerOn(command, collection string, n int) {
	p.mustSpeakMongo()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lose[aim{command, collection}] += n
}

// StallAt stalls the proxy (see Stall) at the moment the next request of
// command on collection ("" for any) arrives, holding that request and
// everything after it until Resume: the network hangs exactly when a given
// write is on its way.
func (p *FaultProxy) StallAt(command, collection string) {
	p.mustSpeakMongo()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stallAt[aim{command, collection}] = true
}

func (p *FaultProxy) mustSpeakMongo() {
	if !p.mongo {
		panic("testenv: aiming at a MongoDB command needs NewMongoFaultProxy")
	}
}

// Lost is how many answers LoseAnswer has dropped so far.
func (p *FaultProxy) Lost() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost
}

// Delay holds every message (or chunk) in either direction for d before
// passing it on; 0 ends the delay.
func (p *FaultProxy) Delay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Stall stops passing bytes on in either direction, while every connection
// stays open and new ones are accepted: a network that hangs. The client
// sees timeouts, never a refusal. Resume ends it.
func (p *FaultProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled == nil {
		p.stalled = make(chan struct{})
	}
}

// Resume passes on again what Stall held.
func (p *FaultProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled != nil {
		close(p.stalled)
		p.stalled = nil
	}
}

// Cut drops every connection and refuses new ones until Restore: the server
// is unreachable, as when it is down or partitioned away.
func (p *FaultProxy) Cut() {
	p.mu.Lock()
	p.cut = true
	conns := p.conns
	p.conns = map[*proxiedConn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		c.close()
	}
}

// Restore ends Cut: new connections reach the server again.
func (p *FaultProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Commands is how many MongoDB requests the proxy has passed to the server,
// by command name ("find", "insert", "hello", ...), leaving out those whose
// name is in except: what a test counts to show what a request cost the
// database. Only for a proxy from NewMongoFaultProxy.
func (p *FaultProxy) Commands(except ...string) map[string]int {
	p.mustSpeakMongo()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for a, n := range p.seen {
		if !slices.Contains(except, a.command) {
			out[a.command] += n
		}
	}
	return out
}

// Accepted is how many connections the proxy has accepted.
func (p *FaultProxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *FaultProxy) close() {
	_ = p.ln.Close()
	p.Resume()
	p.Cut()
}

func (p *FaultProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.accepted++
		p.mu.Unlock()
		if cut {
			_ = client.Close()
			continue
		}
		go p.serve(client)
	}
}

type proxiedConn struct {
	client, server net.Conn
	once           sync.Once
	// doomed are the request ids whose answers are to be lost.
	mu     sync.Mutex
	doomed map[int32]bool
}

func (c *proxiedConn) close() {
	c.once.Do(func() {
		_ = c.client.Close()
		_ = c.server.Close()
	})
}

func (p *FaultProxy) serve(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = client.Close()
		return
	}
	c := &proxiedConn{client: client, server: server, doomed: map[int32]bool{}}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.close()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.close()
	}()
	done := make(chan struct{}, 2)
	go func() { p.forward(c, client, server, true); done <- struct{}{} }()
	go func() { p.forward(c, server, client, false); done <- struct{}{} }()
	<-done
}

// forward copies from src to dst one message (MongoDB) or chunk (anything
// else) at a time, applying the faults in force.
func (p *FaultProxy) forward(c *proxiedConn, src, dst net.Conn, toServer bool) {
	defer c.close()
	r := bufio.NewReaderSize(src, 64<<10)
	for {
		msg, err := p.next(r)
		if err != nil {
			return
		}
		var req aim
		var reqID int32
		isRequest := false
		if p.mongo && toServer {
			req, reqID, isRequest = p.request(msg)
		}
		if !p.pass() {
			return
		}
		if isRequest && p.takeLoss(req) {
			c.mu.Lock()
			c.doomed[reqID] = true
			c.mu.Unlock()
		}
		if p.mongo && !toServer && len(msg) >= 12 {
			responseTo := int32(bin.LittleEndian.Uint32(msg[8:12]))
			c.mu.Lock()
			doomed := c.doomed[responseTo]
			c.mu.Unlock()
			if doomed {
				p.mu.Lock()
				p.lost++
				p.mu.Unlock()
				return // the server acted; the client never hears of it
			}
		}
		if _, err := dst.Write(msg); err != nil {
			return
		}
	}
}

// request reads a MongoDB request on its way to the server, counts it, and
// stalls the proxy if a StallAt rule aims at it.
func (p *FaultProxy) request(msg []byte) (req aim, id int32, ok bool) {
	req.command, req.collection, id, ok = mongoCommand(msg)
	if !ok {
		return req, id, false
	}
	p.mu.Lock()
	p.seen[req]++
	p.mu.Unlock()
	if p.takeStall(req) {
		p.Stall()
	}
	return req, id, true
}

// pass waits out a delay or a stall; false when the connection was cut meanwhile.
func (p *FaultProxy) pass() bool {
	p.mu.Lock()
	delay, stalled := p.delay, p.stalled
	p.mu.Unlock()
	if stalled != nil {
		<-stalled
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.cut
}

// takeLoss consumes one answer to lose for req, if a rule for its
// collection, or for any collection, has one left.
func (p *FaultProxy) takeLoss(req aim) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range []aim{req, {req.command, ""}} {
		if p.lose[a] > 0 {
			p.lose[a]--
			return true
		}
	}
	return false
}

// takeStall consumes the StallAt rule that req sets off, if any.
func (p *FaultProxy) takeStall(req aim) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range []aim{req, {req.command, ""}} {
		if p.stallAt[a] {
			delete(p.stallAt, a)
			return true
		}
	}
	return false
}

// next reads one MongoDB message (length-prefixed) or whatever bytes are there.
func (p *FaultProxy) next(r *bufio.Reader) ([]byte, error) {
	if !p.mongo {
		if _, err := r.Peek(1); err != nil {
			return nil, err
		}
		buf := make([]byte, r.Buffered())
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	head, err := r.Peek(4)
	if err != nil {
		return nil, err
	}
	n := int(bin.LittleEndian.Uint32(head))
	if n < 16 || n > 48<<20 {
		return nil, fmt.Errorf("testenv: fault proxy: message of %d bytes", n)
	}
	msg := make([]byte, n)
	_, err = io.ReadFull(r, msg)
	return msg, err
}

const opMsg = 2013

// mongoCommand returns the command name of an OP_MSG request (the first key
// of its body), the collection it names (that key's value, when a string)
// and its request id.
func mongoCommand(msg []byte) (command, collection string, id int32, ok bool) {
	// header (16) + flagBits (4) + section kind (1) + document length (4) + element type (1)
	if len(msg) < 26 || bin.LittleEndian.Uint32(msg[12:16]) != opMsg || msg[20] != 0 {
		return "", "", 0, false
	}
	id = int32(bin.LittleEndian.Uint32(msg[4:8]))
	kind, rest := msg[25], msg[26:]
	end := bytes.IndexByte(rest, 0)
	if end < 0 {
		return "", "", 0, false
	}
	command, rest = string(rest[:end]), rest[end+1:]
	const bsonString = 0x02
	if kind == bsonString && len(rest) >= 4 {
		n := int(bin.LittleEndian.Uint32(rest[:4]))
		if n >= 1 && len(rest) >= 4+n {
			collection = string(rest[4 : 4+n-1])
		}
	}
	return command, collection, id, true
}
