package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// spansPerTrace is how many spans one generated trace has: an HTTP server span, an internal
// span under it, and three client calls (PostgreSQL, another service over HTTP, Redis).
const spansPerTrace = 5

// spanGen makes OTLP trace requests like those an instrumented web service's SDK exports:
// one resource (service.name, k8s.pod.name, telemetry.sdk.*, …), one instrumentation scope,
// whole traces of spansPerTrace spans of about ten attributes each, some with errors and an
// exception event. Building attributes is what costs, so each generator builds a few
// requests once and next only gives each of them fresh trace and span IDs and timestamps
// before it is sent again. Not safe for concurrent use: one per sending goroutine.
type spanGen struct {
	rnd      *rand.Rand
	requests []genRequest
	next     int
}

// genRequest is one pre-built request and, per span, its times relative to the request's
// send time (negative: before it), which keep the spans of a trace nested.
type genRequest struct {
	td         ptrace.Traces
	spans      ptrace.SpanSlice
	start, end []time.Duration
}

// genRequests is how many distinct requests one generator cycles through.
const genRequests = 4

var (
	genServices = []string{"checkout", "cart", "payment", "shipping", "frontend", "catalog", "accounts", "search"}
	genRoutes   = []struct{ method, route, path string }{
		{"GET", "/api/v1/orders/{id}", "/api/v1/orders/%d"},
		{"POST", "/api/v1/orders", "/api/v1/orders"},
		{"GET", "/api/v1/products/{sku}", "/api/v1/products/SKU-%d"},
		{"PUT", "/api/v1/cart/{id}/items", "/api/v1/cart/%d/items"},
		{"GET", "/healthz", "/healthz"},
	}
	genQueries = []string{
		"SELECT id, status, total_cents, created_at FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20",
		"UPDATE carts SET updated_at = now(), item_count = item_count + $1 WHERE id = $2",
		"SELECT sku, name, price_cents, stock FROM products WHERE sku = ANY($1)",
	}
)

// newSpanGen returns a generator for spansPerRequest spans per request, as service
// instance `instance` (which picks service.name), seeded with seed.
func newSpanGen(spansPerRequest, instance int, seed uint64) *spanGen {
	g := &spanGen{rnd: rand.New(rand.NewPCG(seed, uint64(instance)))}
	service := genServices[instance%len(genServices)]
	pod := fmt.Sprintf("%s-%08x-%05x", service, g.rnd.Uint32(), g.rnd.Uint32()&0xfffff)
	instanceID := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", g.rnd.Uint32(), g.rnd.Uint32()&0xffff,
		g.rnd.Uint32()&0xfff, g.rnd.Uint32()&0xfff, g.rnd.Uint64()&0xffffffffffff)
	for range genRequests {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		res := rs.Resource().Attributes()
		res.EnsureCapacity(11)
		res.PutStr("service.name", service)
		res.PutStr("service.namespace", "shop")
		res.PutStr("service.version", "2.14.3")
		res.PutStr("service.instance.id", instanceID)
		res.PutStr("deployment.environment.name", "production")
		res.PutStr("host.name", fmt.Sprintf("node-%d.eu-west-1.compute.internal", instance%7))
		res.PutStr("k8s.namespace.name", "shop")
		res.PutStr("k8s.pod.name", pod)
		res.PutStr("telemetry.sdk.name", "opentelemetry")
		res.PutStr("telemetry.sdk.language", "go")
		res.PutStr("telemetry.sdk.version", "1.47.0")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		ss.Scope().SetVersion("0.72.0")
		spans := ss.Spans()
		spans.EnsureCapacity(spansPerRequest)
		req := genRequest{td: td, spans: spans,
			start: make([]time.Duration, spansPerRequest), end: make([]time.Duration, spansPerRequest)}
		var root, rootEnd time.Duration
		for i := range spansPerRequest {
			s := spans.AppendEmpty()
			if i%spansPerTrace == 0 {
				// The server span ends just before the send; its children lie inside it.
				rootEnd = -time.Duration(g.rnd.IntN(int(5 * time.Millisecond)))
				root = rootEnd - time.Duration(2+g.rnd.IntN(200))*time.Millisecond
			}
			req.start[i], req.end[i] = g.fill(s, i%spansPerTrace, service, root, rootEnd)
		}
		g.requests = append(g.requests, req)
	}
	return g
}

// fill writes the attributes of the kind-th span of a trace running from root to rootEnd
// and returns the span's own start and end.
func (g *spanGen) fill(s ptrace.Span, kind int, service string, root, rootEnd time.Duration) (start, end time.Duration) {
	r := g.rnd
	a := s.Attributes()
	a.EnsureCapacity(10)
	// A child runs somewhere inside the server span.
	span := rootEnd - root
	start = root + time.Duration(r.Int64N(int64(span)/2+1))
	end = start + time.Duration(r.Int64N(int64(rootEnd-start)+1))
	switch kind {
	case 0:
		rt := genRoutes[r.IntN(len(genRoutes))]
		path := rt.path
		if path != rt.route {
			path = fmt.Sprintf(rt.path, 1000+r.IntN(90000))
		}
		status := 200
		switch n := r.IntN(100); {
		case n < 2:
			status = 500
		case n < 6:
			status = 404
		}
		s.SetName(rt.method + " " + rt.route)
		s.SetKind(ptrace.SpanKindServer)
		a.PutStr("http.request.method", rt.method)
		a.PutStr("http.route", rt.route)
		a.PutStr("url.path", path)
		a.PutStr("url.scheme", "http")
		a.PutInt("http.response.status_code", int64(status))
		a.PutStr("server.address", service+".shop.svc.cluster.local")
		a.PutInt("server.port", 8080)
		a.PutStr("client.address", fmt.Sprintf("10.%d.%d.%d", r.IntN(4), r.IntN(256), 1+r.IntN(254)))
		a.PutStr("user_agent.original", genAgents[r.IntN(len(genAgents))])
		a.PutStr("network.protocol.version", "1.1")
		if status == 500 {
			s.Status().SetCode(ptrace.StatusCodeError)
			s.Status().SetMessage("internal error")
			ev := s.Events().AppendEmpty()
			ev.SetName("exception")
			ev.Attributes().PutStr("exception.type", "*errors.errorString")
			ev.Attributes().PutStr("exception.message", "context deadline exceeded while loading order")
		}
		return root, rootEnd
	case 1:
		s.SetName("orders.load")
		s.SetKind(ptrace.SpanKindInternal)
		a.PutStr("code.function.name", "github.com/shop/"+service+"/internal/orders.(*Store).Load")
		a.PutStr("code.file.path", "/src/internal/orders/store.go")
		a.PutInt("code.line.number", int64(40+r.IntN(400)))
		a.PutInt("orders.count", int64(r.IntN(50)))
		a.PutStr("customer.tier", []string{"free", "plus", "business"}[r.IntN(3)])
		a.PutBool("cache.hit", r.IntN(3) == 0)
		a.PutStr("feature.flag.variant", []string{"control", "treatment"}[r.IntN(2)])
		a.PutStr("tenant.id", fmt.Sprintf("tenant-%04d", r.IntN(2000)))
		a.PutStr("cloud.region", "eu-west-1")
		a.PutInt("retry.count", int64(r.IntN(2)))
	case 2:
		q := genQueries[r.IntN(len(genQueries))]
		s.SetName("SELECT shop")
		s.SetKind(ptrace.SpanKindClient)
		a.PutStr("db.system.name", "postgresql")
		a.PutStr("db.namespace", "shop")
		a.PutStr("db.operation.name", q[:6])
		a.PutStr("db.collection.name", "orders")
		a.PutStr("db.query.text", q)
		a.PutStr("server.address", "postgres.shop.svc.cluster.local")
		a.PutInt("server.port", 5432)
		a.PutStr("network.peer.address", fmt.Sprintf("10.3.%d.%d", r.IntN(256), 1+r.IntN(254)))
		a.PutInt("db.response.returned_rows", int64(r.IntN(20)))
		a.PutStr("db.client.connection.pool.name", "primary")
	case 3:
		s.SetName("POST")
		s.SetKind(ptrace.SpanKindClient)
		a.PutStr("http.request.method", "POST")
		a.PutStr("url.full", "http://payment.shop.svc.cluster.local:8080/api/v1/charges")
		a.PutStr("server.address", "payment.shop.svc.cluster.local")
		a.PutInt("server.port", 8080)
		a.PutInt("http.response.status_code", 201)
		a.PutStr("network.protocol.version", "1.1")
		a.PutInt("http.request.resend_count", 0)
		a.PutInt("http.request.body.size", int64(200+r.IntN(800)))
		a.PutInt("http.response.body.size", int64(100+r.IntN(400)))
		a.PutStr("peer.service", "payment")
	default:
		s.SetName("GET")
		s.SetKind(ptrace.SpanKindClient)
		a.PutStr("db.system.name", "redis")
		a.PutStr("db.operation.name", "GET")
		a.PutStr("db.query.text", fmt.Sprintf("GET session:%016x", r.Uint64()))
		a.PutStr("db.namespace", "0")
		a.PutStr("server.address", "redis.shop.svc.cluster.local")
		a.PutInt("server.port", 6379)
		a.PutStr("network.peer.address", fmt.Sprintf("10.4.%d.%d", r.IntN(256), 1+r.IntN(254)))
		a.PutStr("network.transport", "tcp")
		a.PutBool("cache.hit", r.IntN(4) != 0)
		a.PutInt("db.response.body.size", int64(r.IntN(2048)))
	}
	return start, end
}

// Next returns the next request, with new trace and span IDs and timestamps placing it
// just before now. The returned Traces stay valid until the generator's next Next call
// (genRequests calls later they are reused).
func (g *spanGen) Next(now time.Time) ptrace.Traces {
	req := g.requests[g.next]
	g.next = (g.next + 1) % len(g.requests)
	var traceID pcommon.TraceID
	var rootID pcommon.SpanID
	for i := range req.spans.Len() {
		s := req.spans.At(i)
		var id pcommon.SpanID
		binary.LittleEndian.PutUint64(id[:], g.rnd.Uint64()|1) // never the all-zero invalid ID
		if i%spansPerTrace == 0 {
			binary.LittleEndian.PutUint64(traceID[:8], g.rnd.Uint64())
			binary.LittleEndian.PutUint64(traceID[8:], g.rnd.Uint64()|1)
			rootID = id
			s.SetParentSpanID(pcommon.NewSpanIDEmpty())
		} else {
			s.SetParentSpanID(rootID)
		}
		s.SetTraceID(traceID)
		s.SetSpanID(id)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(req.start[i])))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(req.end[i])))
	}
	return req.td
}
