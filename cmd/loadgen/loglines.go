package main

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// lineGen makes container log messages that look like what clusters log, 100 to 300 bytes:
// web access lines (35%), JSON structured logs (35%), logfmt (20%) on stdout, and klog
// errors (10%) on stderr. Values come from a seeded generator, so a seed gives the same
// corpus apart from the timestamps.
type lineGen struct {
	rnd *rand.Rand
}

func newLineGen(seed uint64) *lineGen {
	return &lineGen{rnd: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

var (
	genPaths    = []string{"/api/v1/orders", "/api/v1/users", "/api/v1/cart/items", "/healthz", "/api/v2/search", "/static/app.js", "/api/v1/payments/authorize"}
	genMethods  = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	genStatus   = []int{200, 200, 200, 200, 201, 204, 301, 304, 400, 404, 500, 503}
	genAgents   = []string{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "curl/8.5.0", "Go-http-client/1.1", "kube-probe/1.31", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"}
	genLevels   = []string{"debug", "info", "info", "info", "info", "warn", "error"}
	genMsgs     = []string{"order placed", "cache miss", "request completed", "retrying upstream call", "user session refreshed", "payment authorized", "slow query", "connection pool exhausted, waiting"}
	genCallers  = []string{"orders/handler.go:142", "cache/lru.go:88", "http/server.go:311", "client/retry.go:57", "db/pool.go:203"}
	genTables   = []string{"orders", "line_items", "users", "sessions", "inventory"}
	genKlogMsgs = []string{
		`reflector.go:561] failed to list *v1.Pod: Get "https://10.96.0.1:443/api/v1/pods?limit=500&resourceVersion=0": dial tcp 10.96.0.1:443: connect: connection refused`,
		`controller.go:114] error syncing "default/web-7d4b9c": deployments.apps "web" not found, requeuing`,
		`leaderelection.go:332] error retrieving resource lock kube-system/sonde-leader: context deadline exceeded`,
	}
)

// next appends one message to b and reports whether it goes to stderr.
func (g *lineGen) next(b []byte, now time.Time) ([]byte, bool) {
	r := g.rnd
	switch p := r.IntN(100); {
	case p < 35: // combined access log
		b = append(b, "10.244."...)
		b = strconv.AppendInt(b, int64(r.IntN(8)), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(r.IntN(254)+1), 10)
		b = append(b, " - - ["...)
		b = now.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
		b = append(b, "] \""...)
		b = append(b, pick(r, genMethods)...)
		b = append(b, ' ')
		b = append(b, pick(r, genPaths)...)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(r.IntN(100000)), 10)
		b = append(b, " HTTP/1.1\" "...)
		b = strconv.AppendInt(b, int64(pick(r, genStatus)), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(r.IntN(20000)), 10)
		b = append(b, ` "-" "`...)
		b = append(b, pick(r, genAgents)...)
		b = append(b, "\" "...)
		b = strconv.AppendFloat(b, r.Float64()/4, 'f', 3, 64)
		return b, false
	case p < 70: // JSON, zap style
		b = append(b, `{"level":"`...)
		b = append(b, pick(r, genLevels)...)
		b = append(b, `","ts":`...)
		b = strconv.AppendFloat(b, float64(now.UnixMicro())/1e6, 'f', 6, 64)
		b = append(b, `,"caller":"`...)
		b = append(b, pick(r, genCallers)...)
		b = append(b, `","msg":"`...)
		b = append(b, pick(r, genMsgs)...)
		b = append(b, `","order_id":`...)
		b = strconv.AppendInt(b, int64(r.IntN(1000000)), 10)
		b = append(b, `,"user":"u-`...)
		b = strconv.AppendInt(b, int64(r.IntN(50000)), 10)
		b = append(b, `","trace_id":"`...)
		b = appendHex(b, r.Uint64())
		b = appendHex(b, r.Uint64())
		b = append(b, `","duration_ms":`...)
		b = strconv.AppendFloat(b, r.Float64()*200, 'f', 2, 64)
		if r.IntN(2) == 0 {
			b = append(b, `,"path":"`...)
			b = append(b, pick(r, genPaths)...)
			b = append(b, `","status":`...)
			b = strconv.AppendInt(b, int64(pick(r, genStatus)), 10)
		}
		b = append(b, '}')
		return b, false
	case p < 90: // logfmt
		b = append(b, "time="...)
		b = now.AppendFormat(b, time.RFC3339)
		b = append(b, " level="...)
		b = append(b, pick(r, genLevels)...)
		b = append(b, ` msg="`...)
		b = append(b, pick(r, genMsgs)...)
		b = append(b, `" component=db table=`...)
		b = append(b, pick(r, genTables)...)
		b = append(b, " rows="...)
		b = strconv.AppendInt(b, int64(r.IntN(5000)), 10)
		b = append(b, " duration="...)
		b = strconv.AppendInt(b, int64(r.IntN(900)+1), 10)
		b = append(b, "ms request_id="...)
		b = appendHex(b, r.Uint64())
		return b, false
	default: // klog error on stderr
		b = append(b, 'E')
		b = now.AppendFormat(b, "0102 15:04:05.000000")
		b = append(b, "       1 "...)
		b = append(b, pick(r, genKlogMsgs)...)
		return b, true
	}
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func appendHex(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, digits[(v>>uint(i))&0xf])
	}
	return b
}
