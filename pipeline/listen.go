package pipeline

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ListenAddr is one TCP address a component binds, or one sonde itself holds.
type ListenAddr struct {
	// Field is the YAML path of the address in the component's arguments, e.g.
	// "grpc.endpoint"; for an address sonde holds, the flag that sets it ("--server.listen").
	Field string
	// Addr is host:port as written. An empty host, 0.0.0.0 and :: are every address of
	// the machine; port 0 (any free port) never conflicts.
	Addr string
}

// Listener is implemented by Arguments whose component listens on TCP addresses. The
// graph validation reports two addresses that cannot both be bound, so a configuration
// whose new component would fail to listen is rejected before a reload applies it.
type Listener interface {
	ListenAddrs() []ListenAddr
}

// listenErrors reports every pair of overlapping addresses: between components, within one
// component, and between a component and reserved (the addresses sonde itself holds).
// Addresses that do not parse are left to the component's Validate.
func listenErrors(specs []Spec, reserved []ListenAddr) []error {
	type bound struct {
		spec Spec // zero for a reserved address
		addr ListenAddr
		ep   endpoint
	}
	var seen []bound
	for _, r := range reserved {
		if ep, ok := parseEndpoint(r.Addr); ok {
			seen = append(seen, bound{addr: r, ep: ep})
		}
	}
	var errs []error
	for _, s := range specs {
		l, ok := s.Args.(Listener)
		if !ok {
			continue
		}
		for _, a := range l.ListenAddrs() {
			ep, ok := parseEndpoint(a.Addr)
			if !ok {
				continue
			}
			for _, b := range seen {
				if !ep.overlaps(b.ep) {
					continue
				}
				var other string
				switch {
				case b.spec.ID == "":
					other = fmt.Sprintf("sonde's own %s (%s)", b.addr.Field, b.addr.Addr)
				case b.spec.ID == s.ID:
					other = fmt.Sprintf("%s (%s) of the same component", b.addr.Field, b.addr.Addr)
				default:
					other = fmt.Sprintf("%s %s (%s", b.spec.ID, b.addr.Field, b.addr.Addr)
					if b.spec.Locate != nil {
						other += ", " + b.spec.Locate(b.addr.Field)
					}
					other += ")"
				}
				errs = append(errs, fmt.Errorf("%s%s: %s: %s overlaps %s: both listen on port %d",
					s.where(a.Field), s.ID, a.Field, a.Addr, other, ep.port))
			}
			seen = append(seen, bound{spec: s, addr: a, ep: ep})
		}
	}
	return errs
}

// endpoint is a parsed listen address: host is "" for every address of the machine, an
// unmapped IP address, or a lower-case host name (not resolved: validation does no DNS).
type endpoint struct {
	host string
	port int
}

func parseEndpoint(addr string) (endpoint, bool) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return endpoint{}, false
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		if port, err = net.LookupPort("tcp", p); err != nil {
			return endpoint{}, false
		}
	}
	if port <= 0 {
		return endpoint{}, false // any free port
	}
	host = strings.ToLower(host)
	if host == "localhost" {
		host = "127.0.0.1" // what Go listens on for localhost
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		// Go listens on both IPv4 and IPv6 for either wildcard ("tcp" network).
		if ip.Unmap().IsUnspecified() {
			host = ""
		} else {
			host = ip.Unmap().String()
		}
	}
	return endpoint{host: host, port: port}, true
}

// overlaps tells whether both cannot be bound at once: the same port, and the same address
// or a wildcard on either side.
func (e endpoint) overlaps(o endpoint) bool {
	return e.port == o.port && (e.host == "" || o.host == "" || e.host == o.host)
}
