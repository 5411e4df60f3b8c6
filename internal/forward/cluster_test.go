package forward

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
	"github.com/neuroscale-dev/neuroscale/internal/forward/forwardtest"
	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
	"github.com/neuroscale-dev/neuroscale/internal/verify/verifytest"
)

// recoveryBudget is the promise: a forward is back within 2 s once
// a ready pod (and backend) exists.
const recoveryBudget = 2 * time.Second

// backstageForward is the dev profile's Backstage forward on a free port.
func backstageForward(ns string) config.Forward {
	return config.Forward{Name: "backstage", Namespace: ns, Service: content.BackstageRelease, LocalPort: 0, RemotePort: 7007, Probe: content.BackstageReadinessPath, Scheme: "http"}
}

// startSupervisor runs a supervisor for f until the test ends and returns
// its events.
func startSupervisor(t *testing.T, c *testcluster.Cluster, f config.Forward) (*Supervisor, <-chan Event) {
	t.Helper()
	events := make(chan Event, 1000)
	s, err := New(Options{REST: c.RESTConfig(), Forwards: []config.Forward{f}, OnEvent: func(e Event) { events <- e }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Start(context.Background()))
	return s, events
}

// backend is a restartable HTTP server on a fixed 127.0.0.1 port, the
// other end of the pods' port-forwards.
type backend struct {
	t    *testing.T
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *http.Server
}

func newBackend(t *testing.T, h http.Handler) *backend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{t: t, addr: ln.Addr().String(), h: h}
	b.serve(ln)
	t.Cleanup(b.stop)
	return b
}

func (b *backend) serve(ln net.Listener) {
	srv := &http.Server{Handler: b.h, ReadHeaderTimeout: 5 * time.Second}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (b *backend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		_ = b.srv.Close()
		b.srv = nil
	}
}

// restart listens on the same address again.
func (b *backend) restart() {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", b.addr)
		if err == nil {
			b.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("listen on %s again: %v", b.addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func httpGet(url string) (int, string, error) {
	c := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// watchNewReadyPod reports when Service ns/name first has a ready
// endpoint on a pod other than old, as the test itself sees it by watch.
func watchNewReadyPod(t *testing.T, c *testcluster.Cluster, ns, name, old string) <-chan time.Time {
	t.Helper()
	cs := c.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := cs.DiscoveryV1().EndpointSlices(ns).Watch(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	at := make(chan time.Time, 1)
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			for _, e := range s.Endpoints {
				ready := e.Conditions.Ready == nil || *e.Conditions.Ready
				if ready && e.TargetRef != nil && e.TargetRef.Name != old {
					at <- time.Now()
					return
				}
			}
		}
	}()
	return at
}

func TestRecoverAfterPodReplaced(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	bs := httptest.NewServer(verifytest.NewBackstage(verifytest.BackstageState{Templates: []string{content.TemplateName}}))
	t.Cleanup(bs.Close)
	forwardtest.Create(t, c, forwardtest.Workload{Namespace: ns, Name: content.BackstageRelease, ServicePort: 7007, ContainerPort: 7007, Replicas: 1, Target: bs.Listener.Addr().String()})
	_, events := startSupervisor(t, c, backstageForward(ns))

	up := waitEvent(t, events, StateUp, 30*time.Second)
	if !strings.HasPrefix(up.URL, "http://127.0.0.1:") || up.Pod == "" || up.Via == "" {
		t.Fatalf("up event %+v: want a loopback URL, the pod and the transport", up)
	}
	if code, body, err := httpGet(up.URL + "/api/catalog/entities?filter=kind=template"); err != nil || code != 200 || !strings.Contains(body, content.TemplateName) {
		t.Fatalf("GET through the forward = %d %q %v", code, body, err)
	}

	newReady := watchNewReadyPod(t, c, ns, content.BackstageRelease, up.Pod)
	deleted := time.Now()
	if err := c.Client(t).CoreV1().Pods(ns).Delete(context.Background(), up.Pod, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	down := waitEvent(t, events, StateDown, 10*time.Second)
	if !strings.Contains(down.Reason, up.Pod) || !strings.Contains(down.Reason, "reconnecting") {
		t.Errorf("down reason %q does not name the replaced pod", down.Reason)
	}
	// A request made while the forward is down waits for the new tunnel
	// instead of failing: the browser sees a slow answer, not an error.
	// (One in flight on the deleted pod fails, as it would on any tunnel.)
	during := getAsync(up.URL + "/api/scaffolder/v2/actions")
	back := waitEvent(t, events, StateUp, 10*time.Second)
	if back.Pod == up.Pod {
		t.Fatalf("up again on the deleted pod %s", back.Pod)
	}
	var readyAt time.Time
	select {
	case readyAt = <-newReady:
	case <-time.After(5 * time.Second):
		t.Fatal("the test saw no new ready pod")
	}
	sinceReady := back.Time.Sub(readyAt)
	t.Logf("RECOVERY pod-replaced: %v after the new pod was ready, %v after the delete (forward's own downtime %v)",
		sinceReady.Round(time.Millisecond), back.Time.Sub(deleted).Round(time.Millisecond), back.Downtime.Round(time.Millisecond))
	if sinceReady > recoveryBudget {
		t.Errorf("forward back %v after the new pod was ready, want within %v", sinceReady, recoveryBudget)
	}
	if err := <-during; err != nil {
		t.Errorf("request during the replacement: %v", err)
	}
}

// getAsync GETs url in the background and reports the outcome.
func getAsync(url string) <-chan error {
	out := make(chan error, 1)
	go func() {
		code, _, err := httpGet(url)
		if err == nil && code != http.StatusOK {
			err = errors.New(http.StatusText(code))
		}
		out <- err
	}()
	return out
}

func TestRecoverAfterBackendRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		outage time.Duration
	}{
		// A quick restart, and one long enough for the backoff to grow
		// past the budget if it were not capped for this cause.
		{"quick", 300 * time.Millisecond},
		{"long", 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := testcluster.Get(t)
			ns := c.Namespace(t)
			b := newBackend(t, verifytest.NewBackstage(verifytest.BackstageState{}))
			forwardtest.Create(t, c, forwardtest.Workload{Namespace: ns, Name: content.BackstageRelease, ServicePort: 7007, ContainerPort: 7007, Replicas: 1, Target: b.addr})
			_, events := startSupervisor(t, c, backstageForward(ns))
			up := waitEvent(t, events, StateUp, 30*time.Second)

			stopped := time.Now()
			b.stop()
			down := waitEvent(t, events, StateDown, 10*time.Second)
			t.Logf("noticed the dead backend after %v: %s", down.Time.Sub(stopped).Round(time.Millisecond), down.Reason)
			time.Sleep(tt.outage)
			restarted := time.Now()
			b.restart()
			back := waitEvent(t, events, StateUp, 20*time.Second)
			rec := back.Time.Sub(restarted)
			t.Logf("RECOVERY backend-restart (%s outage %v): %v after the listener was back", tt.name, tt.outage, rec.Round(time.Millisecond))
			if rec > recoveryBudget {
				t.Errorf("forward back %v after the backend, want within %v", rec, recoveryBudget)
			}
			if code, _, err := httpGet(up.URL + "/.backstage/health/v1/readiness"); err != nil || code != 200 {
				t.Errorf("GET after recovery = %d, %v", code, err)
			}
		})
	}
}

func TestWaitsForReadyPod(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	bs := httptest.NewServer(verifytest.NewBackstage(verifytest.BackstageState{}))
	t.Cleanup(bs.Close)
	forwardtest.Create(t, c, forwardtest.Workload{Namespace: ns, Name: content.BackstageRelease, ServicePort: 7007, ContainerPort: 7007, Replicas: 0, Target: bs.Listener.Addr().String()})
	_, events := startSupervisor(t, c, backstageForward(ns))
	waiting := waitEvent(t, events, StateWaiting, 30*time.Second)
	if !strings.Contains(waiting.Reason, "no pod behind the Service") {
		t.Errorf("waiting reason %q, want that there is no pod", waiting.Reason)
	}

	during := getAsync(waiting.URL + "/api/scaffolder/v2/actions")
	newReady := watchNewReadyPod(t, c, ns, content.BackstageRelease, "")
	cs := c.Client(t)
	scale, err := cs.AppsV1().Deployments(ns).GetScale(context.Background(), content.BackstageRelease, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 1
	scaled := time.Now()
	if _, err := cs.AppsV1().Deployments(ns).UpdateScale(context.Background(), content.BackstageRelease, scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	up := waitEvent(t, events, StateUp, 20*time.Second)
	readyAt := <-newReady
	rec := up.Time.Sub(readyAt)
	t.Logf("RECOVERY first-ready-pod: %v after the pod was ready, %v after the scale-up", rec.Round(time.Millisecond), up.Time.Sub(scaled).Round(time.Millisecond))
	if rec > recoveryBudget {
		t.Errorf("forward up %v after the pod was ready, want within %v", rec, recoveryBudget)
	}
	if err := <-during; err != nil {
		t.Errorf("request made while no pod was ready: %v", err)
	}
}

func TestUnhealthyKeepsTunnel(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	fake := verifytest.NewBackstage(verifytest.BackstageState{NotReady: true})
	bs := httptest.NewServer(fake)
	t.Cleanup(bs.Close)
	forwardtest.Create(t, c, forwardtest.Workload{Namespace: ns, Name: content.BackstageRelease, ServicePort: 7007, ContainerPort: 7007, Replicas: 1, Target: bs.Listener.Addr().String()})
	s, events := startSupervisor(t, c, backstageForward(ns))
	un := waitEvent(t, events, StateUnhealthy, 30*time.Second)
	if !strings.Contains(un.Reason, "503") {
		t.Errorf("unhealthy reason %q, want the probe's 503", un.Reason)
	}
	// The application answers, so users reach it meanwhile.
	if code, _, err := httpGet(s.Status()[0].URL + "/api/scaffolder/v2/actions"); err != nil || code != 200 {
		t.Errorf("GET while unhealthy = %d, %v; want the backend's answer", code, err)
	}
	fake.Set(verifytest.BackstageState{})
	for {
		e := waitEvent(t, events, "", 10*time.Second)
		if e.State == StateDown {
			t.Fatalf("tunnel re-opened for an unhealthy answer: %s", e)
		}
		if e.State == StateUp {
			break
		}
	}
}

func TestPodGoneWithoutReplacement(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	bs := httptest.NewServer(verifytest.NewBackstage(verifytest.BackstageState{}))
	t.Cleanup(bs.Close)
	forwardtest.Create(t, c, forwardtest.Workload{Namespace: ns, Name: content.BackstageRelease, ServicePort: 7007, ContainerPort: 7007, Replicas: 1, Target: bs.Listener.Addr().String()})
	_, events := startSupervisor(t, c, backstageForward(ns))
	up := waitEvent(t, events, StateUp, 30*time.Second)
	cs := c.Client(t)
	if err := cs.AppsV1().Deployments(ns).Delete(context.Background(), content.BackstageRelease, metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	down := waitEvent(t, events, StateDown, 10*time.Second)
	if !strings.Contains(down.Reason, up.Pod) {
		t.Errorf("down reason %q does not name the pod", down.Reason)
	}
	w := waitEvent(t, events, StateWaiting, 10*time.Second)
	if !strings.Contains(w.Reason, "Service "+ns+"/"+content.BackstageRelease) {
		t.Errorf("waiting reason %q does not name the Service", w.Reason)
	}
}

func ptr[T any](v T) *T { return &v }

// TestKnativeRoute forwards to a KServe predictor in Knative mode, laid
// out as Knative lays it out: the route's ExternalName Service, and a
// revision's private Service in front of its pods' queue-proxy port.
func TestKnativeRoute(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	cs := c.Client(t)
	ctx := context.Background()
	pred := httptest.NewServer(verifytest.NewPredictor(content.DemoName, []int{1, 1}))
	t.Cleanup(pred.Close)
	const ksvc = content.DemoName + "-predictor"
	revLabels := map[string]string{"serving.knative.dev/revision": ksvc + "-00001", knativeServiceLabel: ksvc}
	forwardtest.Create(t, c, forwardtest.Workload{Namespace: ns, Name: ksvc + "-00001-deployment", ServicePort: 8012, ContainerPort: 8012, Replicas: 1, Target: pred.Listener.Addr().String(), Labels: revLabels})
	private := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ksvc + "-00001-private", Labels: map[string]string{knativeServiceLabel: ksvc, knativeServiceTypeLabel: knativePrivate}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"serving.knative.dev/revision": ksvc + "-00001"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8012)},
				{Name: "http-usermetric", Port: 9091, TargetPort: intstr.FromInt32(9091)},
			},
		},
	}
	route := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ksvc, Labels: map[string]string{knativeRouteLabel: ksvc}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeExternalName, ExternalName: "kourier-internal.kourier-system.svc.cluster.local",
			Ports: []corev1.ServicePort{{Name: "http2", Port: 80}},
		},
	}
	for _, s := range []*corev1.Service{private, route} {
		if _, err := cs.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, events := startSupervisor(t, c, config.Forward{Name: "demo", Namespace: ns, Service: ksvc, RemotePort: 80, Probe: "/v1/models/" + content.DemoName, Scheme: "http"})
	up := waitEvent(t, events, StateUp, 30*time.Second)
	if !strings.HasPrefix(up.Pod, ksvc+"-00001-deployment-") {
		t.Errorf("up on pod %q, want the revision's pod", up.Pod)
	}
	resp, err := http.Post(up.URL+"/v1/models/"+content.DemoName+":predict", "application/json", strings.NewReader(`{"instances":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"predictions":[1,1]`) {
		t.Errorf("predict through the route's forward: %d %s", resp.StatusCode, body)
	}
}

// TestSPDYFallback puts a proxy in front of the API server that refuses
// websocket upgrades, as some proxies and older API servers do, and checks
// that the forward comes up over SPDY instead.
func TestSPDYFallback(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	bs := httptest.NewServer(verifytest.NewBackstage(verifytest.BackstageState{}))
	t.Cleanup(bs.Close)
	forwardtest.Create(t, c, forwardtest.Workload{Namespace: ns, Name: content.BackstageRelease, ServicePort: 7007, ContainerPort: 7007, Replicas: 1, Target: bs.Listener.Addr().String()})

	cfg := c.RESTConfig()
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	// Upgrades need HTTP/1.1 between the proxy and the API server.
	cfg.NextProtos = []string{"http/1.1"}
	apiTransport, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = apiTransport
	rp.ErrorLog = log.New(io.Discard, "", 0)
	var refused atomic.Int32
	proxy := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			refused.Add(1)
			http.Error(w, "websocket upgrades are not allowed here", http.StatusBadRequest)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	// The proxy authenticates to the API server itself.
	viaProxy := &rest.Config{Host: proxy.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}

	events := make(chan Event, 100)
	s, err := New(Options{REST: viaProxy, Forwards: []config.Forward{backstageForward(ns)}, OnEvent: func(e Event) { events <- e }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Start(context.Background()))
	up := waitEvent(t, events, StateUp, 30*time.Second)
	if up.Via != viaSPDY || refused.Load() == 0 {
		t.Errorf("up via %q after %d refused websocket upgrades, want spdy after at least one", up.Via, refused.Load())
	}
	if code, _, err := httpGet(up.URL + "/api/scaffolder/v2/actions"); err != nil || code != 200 {
		t.Errorf("GET through the SPDY forward = %d, %v", code, err)
	}
}
