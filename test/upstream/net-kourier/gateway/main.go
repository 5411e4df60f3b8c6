// Command gateway stands in for Kourier's Envoy gateway (the
// 3scale-kourier-gateway pods) on the test bench, where no container image
// runs. Like Envoy with Kourier's bootstrap, it fetches its listeners,
// routes and clusters over xDS (ADS) from net-kourier's controller at the
// address the bootstrap names, as node 3scale-kourier-gateway, and serves
// HTTP on the pushed listeners' ports by the pushed routes: a request
// whose Host and path match a route is proxied to an endpoint of the
// route's cluster with the route's request headers added. So the ingress
// status prober of Knative's networking (K-Network-Probe, K-Network-Hash:
// override) is answered exactly as through Envoy: only for routes the
// controller pushed, and by the revision's activator or queue-proxy, which
// echoes the hash Kourier's probe route adds. The readiness probe
// (/ready on 8081, Host internalkourier) is answered once the first
// configuration arrived, as Envoy's admin /ready via Kourier's status
// route. Not played: TLS listeners, HTTP/2 to upstreams, retries,
// timeouts, external authorization, access logs and stats.
//
// It lives in net-kourier's module, not in the bench's (test/k8senv),
// because it needs Envoy's xDS API at the version net-kourier speaks.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/yaml"
)

func main() {
	bootstrap := flag.String("bootstrap", "", "Envoy bootstrap file (Kourier's envoy-bootstrap.yaml)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, log, *bootstrap); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// boot is what the stand-in reads from Envoy's bootstrap.
type boot struct {
	Node struct {
		ID      string `json:"id"`
		Cluster string `json:"cluster"`
	} `json:"node"`
	StaticResources struct {
		Clusters []struct {
			Name           string `json:"name"`
			LoadAssignment struct {
				Endpoints oneOrMany[struct {
					LbEndpoints oneOrMany[lbEndpoint] `json:"lb_endpoints"`
				}] `json:"endpoints"`
			} `json:"load_assignment"`
		} `json:"clusters"`
	} `json:"static_resources"`
}

type lbEndpoint struct {
	Endpoint struct {
		Address struct {
			SocketAddress struct {
				Address   string `json:"address"`
				PortValue int    `json:"port_value"`
			} `json:"socket_address"`
		} `json:"address"`
	} `json:"endpoint"`
}

// oneOrMany decodes a repeated field that Kourier's bootstrap writes as one
// object instead of a list (Envoy accepts both).
type oneOrMany[T any] []T

func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	var many []T
	if err := json.Unmarshal(b, &many); err == nil {
		*o = many
		return nil
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*o = []T{one}
	return nil
}

// readBootstrap returns the node and the xDS server's address.
func readBootstrap(path string) (*corev3.Node, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("read bootstrap: %w", err)
	}
	var b boot
	if err := yaml.Unmarshal(data, &b); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range b.StaticResources.Clusters {
		if c.Name != "xds_cluster" {
			continue
		}
		for _, e := range c.LoadAssignment.Endpoints {
			for _, lb := range e.LbEndpoints {
				sa := lb.Endpoint.Address.SocketAddress
				if sa.Address != "" && sa.PortValue != 0 {
					return &corev3.Node{Id: b.Node.ID, Cluster: b.Node.Cluster}, net.JoinHostPort(sa.Address, strconv.Itoa(sa.PortValue)), nil
				}
			}
		}
	}
	return nil, "", fmt.Errorf("%s: no xds_cluster endpoint", path)
}

func run(ctx context.Context, log *slog.Logger, bootstrap string) error {
	node, xds, err := readBootstrap(bootstrap)
	if err != nil {
		return err
	}
	g := &gateway{log: log, servers: map[uint32]*http.Server{}}
	defer g.closeAll()
	backoff := time.Second
	for {
		err := g.watch(ctx, node, xds)
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("xDS stream ended; reconnecting", "server", xds, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// gateway holds the configuration last pushed and the listeners serving it.
type gateway struct {
	log *slog.Logger

	mu        sync.RWMutex
	listeners map[uint32]string // port -> route configuration name
	routes    map[string]*routev3.RouteConfiguration
	clusters  map[string]*clusterv3.Cluster
	servers   map[uint32]*http.Server
}

// watch runs one ADS stream: it asks for every listener, route
// configuration and cluster (wildcard) and ACKs each response.
func (g *gateway) watch(ctx context.Context, node *corev3.Node, addr string) error {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		return err
	}
	types := []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.RouteType}
	for _, t := range types {
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: t}); err != nil {
			return err
		}
	}
	g.log.Info("xDS stream open", "server", addr, "node", node.GetId())
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		nack := g.apply(resp)
		req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce(), VersionInfo: resp.GetVersionInfo()}
		if nack != nil {
			// A NACK: the version last applied (none) and the reason.
			g.log.Warn("rejecting xDS response", "type", resp.GetTypeUrl(), "err", nack)
			req.VersionInfo = ""
		}
		if err := stream.Send(req); err != nil {
			return err
		}
	}
}

// apply takes one xDS response (State of the World: the whole set of its
// type).
func (g *gateway) apply(resp *discoveryv3.DiscoveryResponse) error {
	switch resp.GetTypeUrl() {
	case resourcev3.ClusterType:
		clusters := map[string]*clusterv3.Cluster{}
		for _, a := range resp.GetResources() {
			c := &clusterv3.Cluster{}
			if err := a.UnmarshalTo(c); err != nil {
				return err
			}
			clusters[c.GetName()] = c
		}
		g.mu.Lock()
		g.clusters = clusters
		g.mu.Unlock()
		g.log.Info("clusters", "version", resp.GetVersionInfo(), "count", len(clusters))
	case resourcev3.RouteType:
		routes := map[string]*routev3.RouteConfiguration{}
		for _, a := range resp.GetResources() {
			r := &routev3.RouteConfiguration{}
			if err := a.UnmarshalTo(r); err != nil {
				return err
			}
			routes[r.GetName()] = r
		}
		g.mu.Lock()
		g.routes = routes
		g.mu.Unlock()
		g.log.Info("routes", "version", resp.GetVersionInfo(), "configurations", len(routes))
	case resourcev3.ListenerType:
		listeners := map[uint32]string{}
		for _, a := range resp.GetResources() {
			l := &listenerv3.Listener{}
			if err := a.UnmarshalTo(l); err != nil {
				return err
			}
			port := l.GetAddress().GetSocketAddress().GetPortValue()
			if rc := routeConfigName(l); rc != "" && port != 0 {
				listeners[port] = rc
			}
		}
		g.mu.Lock()
		g.listeners = listeners
		g.mu.Unlock()
		g.serve(listeners)
		g.log.Info("listeners", "version", resp.GetVersionInfo(), "ports", len(listeners))
	}
	return nil
}

// routeConfigName returns the RDS route configuration of a plain-HTTP
// listener's connection manager, or "" for a TLS listener (not played).
func routeConfigName(l *listenerv3.Listener) string {
	for _, fc := range l.GetFilterChains() {
		if fc.GetTransportSocket() != nil {
			continue
		}
		for _, f := range fc.GetFilters() {
			hcm := &hcmv3.HttpConnectionManager{}
			if f.GetTypedConfig() == nil || f.GetTypedConfig().UnmarshalTo(hcm) != nil {
				continue
			}
			if rds := hcm.GetRds(); rds != nil {
				return rds.GetRouteConfigName()
			}
		}
	}
	return ""
}

// serve starts an HTTP server on each pushed listener's port (on every
// address of the pod, as Envoy's listeners on ::) and stops those no
// longer pushed. The status route (/ready for Host internalkourier) makes
// the pod Ready.
func (g *gateway) serve(listeners map[uint32]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for port, srv := range g.servers {
		if _, ok := listeners[port]; !ok {
			_ = srv.Close()
			delete(g.servers, port)
		}
	}
	for port := range listeners {
		if _, ok := g.servers[port]; ok {
			continue
		}
		l, err := net.Listen("tcp", ":"+strconv.Itoa(int(port)))
		if err != nil {
			g.log.Error("listen", "port", port, "err", err)
			continue
		}
		srv := &http.Server{Handler: g.handler(port), ReadHeaderTimeout: 30 * time.Second}
		g.servers[port] = srv
		go func() { _ = srv.Serve(l) }()
		g.log.Info("listening", "port", port)
	}
}

func (g *gateway) closeAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.servers {
		_ = s.Close()
	}
}

// handler routes a request on port by its listener's route configuration.
func (g *gateway) handler(port uint32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.RLock()
		rc := g.routes[g.listeners[port]]
		g.mu.RUnlock()
		vh := matchVirtualHost(rc, r.Host)
		if vh == nil {
			http.Error(w, "no virtual host for "+r.Host, http.StatusNotFound)
			return
		}
		rt := matchRoute(vh, r)
		if rt == nil {
			http.Error(w, "no route", http.StatusNotFound)
			return
		}
		if rt.GetRedirect() != nil {
			http.Redirect(w, r, "https://"+r.Host+r.URL.RequestURI(), http.StatusMovedPermanently)
			return
		}
		action := rt.GetRoute()
		if action == nil {
			http.Error(w, "route action not played by the stand-in gateway", http.StatusNotImplemented)
			return
		}
		if dr := rt.GetDirectResponse(); dr != nil {
			w.WriteHeader(int(dr.GetStatus()))
			return
		}
		cw := pickCluster(action)
		if cw == nil {
			http.Error(w, "no cluster", http.StatusServiceUnavailable)
			return
		}
		if cw.GetName() == "service_stats" {
			// Kourier's status route to Envoy's admin (/ready): the
			// bootstrap's static cluster. Live once configured, as here.
			_, _ = w.Write([]byte("LIVE\n"))
			return
		}
		g.mu.RLock()
		cluster := g.clusters[cw.GetName()]
		g.mu.RUnlock()
		target, err := endpointOf(cluster)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		for _, h := range append(rt.GetRequestHeadersToAdd(), cw.GetRequestHeadersToAdd()...) {
			addHeader(r.Header, h)
		}
		if hr := action.GetHostRewriteLiteral(); hr != "" {
			r.Host = hr
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.Out.URL.Scheme, pr.Out.URL.Host = "http", target
				pr.Out.Host = r.Host
				pr.SetXForwarded()
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				http.Error(w, "upstream connect error: "+err.Error(), http.StatusServiceUnavailable)
			},
		}
		proxy.ServeHTTP(w, r)
	})
}

// matchVirtualHost picks the virtual host whose domains match host as
// Envoy does: exact first, then the longest suffix ("*.x") or prefix
// ("x.*", "x:*") wildcard, then "*".
func matchVirtualHost(rc *routev3.RouteConfiguration, host string) *routev3.VirtualHost {
	if rc == nil {
		return nil
	}
	host = strings.ToLower(host)
	var best *routev3.VirtualHost
	bestLen := -1
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			d = strings.ToLower(d)
			n := -1
			switch {
			case d == host:
				return vh
			case d == "*":
				n = 0
			case strings.HasPrefix(d, "*") && strings.HasSuffix(host, d[1:]):
				n = len(d)
			case strings.HasSuffix(d, "*") && strings.HasPrefix(host, d[:len(d)-1]):
				n = len(d)
			}
			if n > bestLen {
				best, bestLen = vh, n
			}
		}
	}
	return best
}

// matchRoute returns the first route whose path and headers match.
func matchRoute(vh *routev3.VirtualHost, r *http.Request) *routev3.Route {
	for _, rt := range vh.GetRoutes() {
		m := rt.GetMatch()
		switch {
		case m.GetPrefix() != "" && !strings.HasPrefix(r.URL.Path, m.GetPrefix()):
			continue
		case m.GetPath() != "" && r.URL.Path != m.GetPath():
			continue
		case m.GetSafeRegex() != nil:
			re, err := regexp.Compile("^(?:" + m.GetSafeRegex().GetRegex() + ")$")
			if err != nil || !re.MatchString(r.URL.Path) {
				continue
			}
		}
		if headersMatch(m.GetHeaders(), r) {
			return rt
		}
	}
	return nil
}

func headersMatch(ms []*routev3.HeaderMatcher, r *http.Request) bool {
	for _, hm := range ms {
		name := hm.GetName()
		var v string
		var present bool
		switch strings.ToLower(name) {
		case ":authority":
			v, present = r.Host, true
		case ":method":
			v, present = r.Method, true
		case ":path":
			v, present = r.URL.RequestURI(), true
		default:
			vs := r.Header.Values(name)
			v, present = strings.Join(vs, ","), len(vs) > 0
		}
		ok := present
		if sm := hm.GetStringMatch(); sm != nil {
			switch {
			case sm.GetExact() != "":
				ok = present && v == sm.GetExact()
			case sm.GetPrefix() != "":
				ok = present && strings.HasPrefix(v, sm.GetPrefix())
			case sm.GetSuffix() != "":
				ok = present && strings.HasSuffix(v, sm.GetSuffix())
			case sm.GetContains() != "":
				ok = present && strings.Contains(v, sm.GetContains())
			case sm.GetSafeRegex() != nil:
				re, err := regexp.Compile("^(?:" + sm.GetSafeRegex().GetRegex() + ")$")
				ok = present && err == nil && re.MatchString(v)
			}
		} else if hm.GetPresentMatch() {
			ok = present
		}
		if hm.GetInvertMatch() {
			ok = !ok
		}
		if !ok {
			return false
		}
	}
	return true
}

// pickCluster picks a weighted cluster by weight (or the single cluster).
func pickCluster(a *routev3.RouteAction) *routev3.WeightedCluster_ClusterWeight {
	if c := a.GetCluster(); c != "" {
		return &routev3.WeightedCluster_ClusterWeight{Name: c}
	}
	ws := a.GetWeightedClusters().GetClusters()
	total := 0
	for _, w := range ws {
		total += int(w.GetWeight().GetValue())
	}
	if total == 0 {
		if len(ws) > 0 {
			return ws[0]
		}
		return nil
	}
	n := rand.IntN(total) //nolint:gosec // load balancing, not security
	for _, w := range ws {
		if n -= int(w.GetWeight().GetValue()); n < 0 {
			return w
		}
	}
	return ws[len(ws)-1]
}

// endpointOf picks an endpoint of a STATIC or LOGICAL_DNS cluster.
func endpointOf(c *clusterv3.Cluster) (string, error) {
	if c == nil {
		return "", errors.New("no healthy upstream: cluster not pushed")
	}
	var addrs []string
	for _, le := range c.GetLoadAssignment().GetEndpoints() {
		for _, lb := range le.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if sa != nil {
				addrs = append(addrs, net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))))
			}
		}
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("no healthy upstream in cluster %s", c.GetName())
	}
	return addrs[rand.IntN(len(addrs))], nil //nolint:gosec // load balancing
}

// addHeader applies one of a route's request headers: Kourier's are
// overwrite-or-add (its probe route replaces K-Network-Hash: override with
// the Ingress's hash), else appended.
func addHeader(h http.Header, o *corev3.HeaderValueOption) {
	k, v := o.GetHeader().GetKey(), o.GetHeader().GetValue()
	switch {
	case o.GetAppendAction() == corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		o.GetAppend() != nil && !o.GetAppend().GetValue():
		h.Set(k, v)
	case o.GetAppendAction() == corev3.HeaderValueOption_ADD_IF_ABSENT:
		if h.Get(k) == "" {
			h.Set(k, v)
		}
	default:
		h.Add(k, v)
	}
}
