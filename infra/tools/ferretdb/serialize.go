package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// FerretDB's SQLite backend runs update, findAndModify and delete as "query,
// change in Go, write back by _id", with nothing keeping the document from
// changing between the query and the write. Two concurrent conditional updates
// of one document can therefore both match and both "win" (measured: 2 of 50
// findOneAndUpdate calls on {orderId: ""} succeeded, 5 of 50 updateOne calls
// on {version: 0}). MongoDB applies each single-document write atomically, and
// the services are built on that guarantee (optimistic concurrency on a
// version field, reservations as one conditional update, the outbox's guarded
// $pop). So the server sits behind this proxy, which passes the wire protocol
// through untouched but lets only one write command per collection run at a
// time: a write's query and its write back can no longer interleave with
// another write to the same collection.
//
// A collection is named by its database and its name ("orders.tickets"), as
// MongoDB names it: the services share one server in `make run`, and orders'
// replica "tickets" has nothing to do with tickets' own "tickets" — one lock
// for both would make each wait on the other's writes for nothing. SQLite
// keeps each database in a file of its own, so writes to two databases never
// share a table either.
//
// Reads are never held back; SQLite already gives each statement a consistent
// view.

// wire protocol constants (MongoDB wire protocol, OP_MSG).
const (
	headerLen      = 16
	opMsg          = 2013
	flagMoreToCome = 1 << 1
	maxMessage     = 48 << 20
)

// writeCommands are the commands whose execution must not interleave.
var writeCommands = map[string]bool{"insert": true, "update": true, "delete": true, "findandmodify": true}

type serializer struct {
	backend string // unix socket of the real FerretDB listener
	log     *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// lockFor is the lock of one collection, named "database.collection".
func (s *serializer) lockFor(namespace string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.locks[namespace]
	if !ok {
		l = &sync.Mutex{}
		s.locks[namespace] = l
	}
	return l
}

func (s *serializer) serve(ctx context.Context, ln net.Listener) error {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go s.proxy(conn)
	}
}

// dial reaches the FerretDB listener, waiting for it while it starts (the
// proxy's port opens first).
func (s *serializer) dial() (net.Conn, error) {
	var err error
	for range 100 {
		var conn net.Conn
		if conn, err = net.Dial("unix", s.backend); err == nil {
			return conn, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}

// proxy relays one client connection. Client messages are relayed one at a
// time; a write command holds its collection's lock until the reply to it has
// been relayed back.
func (s *serializer) proxy(client net.Conn) {
	defer client.Close()
	server, err := s.dial()
	if err != nil {
		s.log.Error("dialing FerretDB", "err", err)
		return
	}
	defer server.Close()

	r := &replies{waiting: map[int32]chan struct{}{}, serverDone: make(chan struct{})}
	go r.relay(server, client)
	for {
		msg, err := readMessage(client)
		if err != nil {
			return
		}
		if namespace, write := writeTarget(msg); write {
			err = s.relayWrite(server, msg, namespace, r)
		} else {
			_, err = server.Write(msg)
		}
		if err != nil {
			return
		}
	}
}

// relayWrite sends a write command and waits, holding its collection's lock,
// until its reply has gone back to the client (or the server hung up).
func (s *serializer) relayWrite(server net.Conn, msg []byte, namespace string, r *replies) error {
	lock := s.lockFor(namespace)
	lock.Lock()
	defer lock.Unlock()
	replied := r.expect(int32(binary.LittleEndian.Uint32(msg[4:8])))
	if _, err := server.Write(msg); err != nil {
		return err
	}
	select {
	case <-replied:
	case <-r.serverDone:
	}
	return nil
}

// replies tells the client loop when the reply to a request has been relayed.
type replies struct {
	mu      sync.Mutex
	waiting map[int32]chan struct{} // request id -> closed once its reply went back
	// serverDone closes when the server side of the connection ends.
	serverDone chan struct{}
}

// expect registers a request whose reply is awaited, before it is sent.
func (r *replies) expect(requestID int32) <-chan struct{} {
	ch := make(chan struct{})
	r.mu.Lock()
	r.waiting[requestID] = ch
	r.mu.Unlock()
	return ch
}

// relay copies the server's messages to the client, marking each awaited
// reply once it has been written; it closes the client when the server ends.
func (r *replies) relay(server, client net.Conn) {
	defer close(r.serverDone)
	defer client.Close()
	for {
		msg, err := readMessage(server)
		if err != nil {
			return
		}
		if _, err := client.Write(msg); err != nil {
			return
		}
		responseTo := int32(binary.LittleEndian.Uint32(msg[8:12]))
		r.mu.Lock()
		if ch, ok := r.waiting[responseTo]; ok {
			close(ch)
			delete(r.waiting, responseTo)
		}
		r.mu.Unlock()
	}
}

func readMessage(r io.Reader) ([]byte, error) {
	var header [headerLen]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(header[0:4]))
	if n < headerLen || n > maxMessage {
		return nil, fmt.Errorf("message length %d out of range", n)
	}
	msg := make([]byte, n)
	copy(msg, header[:])
	if _, err := io.ReadFull(r, msg[headerLen:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// writeTarget reports whether msg is an acknowledged write command, and the
// collection it writes as "database.collection" (the command's $db). Anything
// it cannot read is treated as a read and passed through.
func writeTarget(msg []byte) (string, bool) {
	if binary.LittleEndian.Uint32(msg[12:16]) != opMsg || len(msg) < headerLen+5 {
		return "", false
	}
	flags := binary.LittleEndian.Uint32(msg[headerLen : headerLen+4])
	if flags&flagMoreToCome != 0 {
		// Unacknowledged (w:0): no reply will come to release a lock.
		return "", false
	}
	body := msg[headerLen+4:]
	for len(body) > 0 {
		kind := body[0]
		body = body[1:]
		if len(body) < 4 {
			return "", false
		}
		size := int(binary.LittleEndian.Uint32(body[:4]))
		if size < 5 || size > len(body) {
			return "", false
		}
		if kind == 0 {
			command, collection, err := firstElement(body[:size])
			if err != nil || !writeCommands[strings.ToLower(command)] {
				return "", false
			}
			// A command without $db is refused by the server; it still takes
			// a lock (of "" databases), never none.
			db, _ := stringElement(body[:size], "$db")
			return db + "." + collection, true
		}
		body = body[size:] // a kind-1 document sequence: its size covers it all
	}
	return "", false
}

// firstElement reads the first element of a BSON document: the command name
// and, for the write commands, the collection name (a string).
func firstElement(doc []byte) (key, value string, err error) {
	if len(doc) < 6 || doc[4] != 0x02 { // 0x02: UTF-8 string
		return "", "", errors.New("not a command with a string argument")
	}
	rest := doc[5:]
	end := 0
	for end < len(rest) && rest[end] != 0 {
		end++
	}
	if end == len(rest) {
		return "", "", errors.New("unterminated key")
	}
	key, rest = string(rest[:end]), rest[end+1:]
	if len(rest) < 4 {
		return "", "", errors.New("short string")
	}
	n := int(binary.LittleEndian.Uint32(rest[:4]))
	if n < 1 || 4+n > len(rest) {
		return "", "", errors.New("bad string length")
	}
	return key, string(rest[4 : 4+n-1]), nil
}

// stringElement finds the top-level string element key in a BSON document.
func stringElement(doc []byte, key string) (string, bool) {
	if len(doc) < 5 {
		return "", false
	}
	rest := doc[4 : len(doc)-1]
	for len(rest) > 0 {
		kind := rest[0]
		end := 1
		for end < len(rest) && rest[end] != 0 {
			end++
		}
		if end >= len(rest) {
			return "", false
		}
		name, value := string(rest[1:end]), rest[end+1:]
		n := valueSize(kind, value)
		if n < 0 || n > len(value) {
			return "", false
		}
		if kind == 0x02 && name == key {
			return string(value[4 : n-1]), true
		}
		rest = value[n:]
	}
	return "", false
}

// fixedSizes are the sizes of the BSON values of fixed length, by type.
var fixedSizes = map[byte]int{
	0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0xFF: 0, 0x7F: 0,
}

// valueSize is the length of a BSON value of type kind at the start of v, or
// -1 if it cannot be told.
func valueSize(kind byte, v []byte) int {
	if n, ok := fixedSizes[kind]; ok {
		return n
	}
	if kind == 0x0B { // regular expression: two C strings
		first := bytes.IndexByte(v, 0)
		if first < 0 {
			return -1
		}
		second := bytes.IndexByte(v[first+1:], 0)
		if second < 0 {
			return -1
		}
		return first + 1 + second + 1
	}
	if len(v) < 4 {
		return -1
	}
	n := int(int32(binary.LittleEndian.Uint32(v[:4])))
	if n < 1 {
		return -1
	}
	switch kind {
	case 0x02, 0x0D, 0x0E: // string, JavaScript, symbol: length, bytes, NUL
		return 4 + n
	case 0x05: // binary: length, subtype, bytes
		return 4 + 1 + n
	case 0x0C: // DB pointer: string, ObjectId
		return 4 + n + 12
	case 0x03, 0x04, 0x0F: // document, array, code with scope: length includes itself
		return n
	}
	return -1
}
