package main

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
)

// browseLayers measures the two public reads at each layer that can answer
// them (docs/benchmarks.md, "Browsing"): the gateway's micro-cache (a plain
// GET, answered from nginx's copy), a revalidation (If-None-Match with the
// tag the reader holds: a 304, from nginx's copy too), and a URL the gateway
// has never seen (a query parameter the service ignores), which passes the
// micro-cache and is answered from tickets' own snapshot. Each beside the
// database query it would otherwise cost, as every browse row is.
func (b *bench) browseLayers(ctx context.Context) error {
	list := fmt.Sprintf("/api/tickets?limit=%d", pageSize)
	tags := map[string]string{}
	for _, path := range append([]string{list}, b.ticketPaths()...) {
		tag, err := b.api.etag(ctx, path)
		if err != nil {
			return err
		}
		tags[path] = tag
	}
	pick := func() string { return "/api/tickets/" + b.catalogue[mrand.IntN(len(b.catalogue))] }
	one := func(int) string { return list }
	for _, read := range []struct {
		name    string
		path    func(i int) string
		ceiling func(ctx context.Context) outcome
		what    string
	}{
		{"GET /api/tickets", one, b.db.listPage, "find for sale, sorted, limit 21"},
		{"GET /api/tickets/:id", func(int) string { return pick() },
			func(ctx context.Context) outcome {
				return b.db.ticketByID(ctx, b.catalogue[mrand.IntN(len(b.catalogue))])
			}, "findOne by _id"},
	} {
		b.browseLayer(ctx, read.name+", the gateway's copy", read.ceiling, read.what, http.StatusOK,
			func(ctx context.Context, i int) outcome { return b.api.get(ctx, read.path(i), "") })
		b.browseLayer(ctx, read.name+", If-None-Match: 304", read.ceiling, read.what, http.StatusNotModified,
			func(ctx context.Context, i int) outcome {
				path := read.path(i)
				return b.api.get(ctx, path, tags[path])
			})
		b.browseLayer(ctx, read.name+", past the gateway: tickets' snapshot", read.ceiling, read.what, http.StatusOK,
			func(ctx context.Context, i int) outcome {
				return b.api.get(ctx, withQuery(read.path(i), "n="+strconv.Itoa(i)), "")
			})
	}
	return nil
}

func (b *bench) browseLayer(ctx context.Context, name string, ceilingOp func(context.Context) outcome, what string, want int, op func(context.Context, int) outcome) {
	ceiling, s, ceilingCPU, cpu := versus(ctx, b.sys.pids, b.timed(), b.timed(),
		func(ctx context.Context, _ int) outcome { return ceilingOp(ctx) }, op)
	b.add(row{Name: name, Sample: s, Want: []int{want}, CPU: cpu, Ceiling: ceiling, CeilingCPU: ceilingCPU, CeilingWhat: what})
}

func (b *bench) ticketPaths() []string {
	paths := make([]string, len(b.catalogue))
	for i, id := range b.catalogue {
		paths[i] = "/api/tickets/" + id
	}
	return paths
}

func withQuery(path, param string) string {
	if strings.Contains(path, "?") {
		return path + "&" + param
	}
	return path + "?" + param
}
