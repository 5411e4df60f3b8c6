package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
)

// probeReady plays the kubelet's readiness probe: it checks the
// container's readinessProbe (else its startupProbe, else its livenessProbe,
// else a plain TCP connect to its first port) against the process at the
// pod IP every period, marks the container and pod Ready once it passes and
// not Ready again after failureThreshold failures in a row, so a process
// that stops answering (a frozen server) loses its endpoints, as on a
// kubelet.
func (h *harness) probeReady(ctx context.Context, c *container) {
	probe := c.ctr.ReadinessProbe
	if probe == nil {
		probe = c.ctr.StartupProbe
	}
	if probe == nil {
		probe = c.ctr.LivenessProbe
	}
	period, threshold := 10*time.Second, 3
	if probe != nil {
		if probe.PeriodSeconds > 0 {
			period = time.Duration(probe.PeriodSeconds) * time.Second
		}
		if probe.FailureThreshold > 0 {
			threshold = int(probe.FailureThreshold)
		}
	}
	ready, failures := false, 0
	for {
		err := runProbe(ctx, c, probe)
		switch {
		case err == nil && !ready:
			ready, failures = true, 0
			h.setReady(ctx, c, true)
			h.log.Info("ready", "container", c.name())
		case err == nil:
			failures = 0
		case ready:
			failures++
			if failures >= threshold {
				ready = false
				h.setReady(ctx, c, false)
				h.log.Warn("not ready", "container", c.name(), "err", err)
			}
		}
		// Until the first success, probe every second: the bench has no
		// reason to wait initialDelaySeconds.
		wait := period
		if !ready {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func runProbe(ctx context.Context, c *container, p *corev1.Probe) error {
	ip := c.pod.Status.PodIP
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	switch {
	case p != nil && p.HTTPGet != nil:
		port, err := resolvePort(c.ctr, p.HTTPGet.Port)
		if err != nil {
			return err
		}
		scheme := "http"
		if p.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		host := ip
		if p.HTTPGet.Host != "" {
			host = p.HTTPGet.Host
		}
		url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), p.HTTPGet.Path)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		// As the kubelet: programs tell its probes by the User-Agent
		// (Knative's health handlers answer only "kube-probe/" ones), and
		// a Host header sets the request's host.
		req.Header.Set("User-Agent", "kube-probe/1.36")
		req.Header.Set("Accept", "*/*")
		for _, hd := range p.HTTPGet.HTTPHeaders {
			if strings.EqualFold(hd.Name, "Host") {
				req.Host = hd.Value
				continue
			}
			req.Header.Set(hd.Name, hd.Value)
		}
		// The kubelet does not verify a probe's certificate either.
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // as the kubelet
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("probe %s: %s", url, resp.Status)
		}
		return nil
	case p != nil && p.TCPSocket != nil:
		port, err := resolvePort(c.ctr, p.TCPSocket.Port)
		if err != nil {
			return err
		}
		return dialOnce(ctx, ip, port)
	case p != nil && p.GRPC != nil:
		return dialOnce(ctx, ip, int(p.GRPC.Port))
	case p != nil && p.Exec != nil:
		return nil // exec probes need the image's tools; the process runs
	}
	if len(c.ctr.Ports) > 0 {
		return dialOnce(ctx, ip, int(c.ctr.Ports[0].ContainerPort))
	}
	return nil
}

func dialOnce(ctx context.Context, ip string, port int) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return conn.Close()
}

func resolvePort(ctr *corev1.Container, p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range ctr.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", ctr.Name, p.StrVal)
}

// setReady writes the container's readiness into the pod's status, as the
// kubelet does; the pod is Ready when all its containers are.
func (h *harness) setReady(ctx context.Context, c *container, ready bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := h.cs.CoreV1().Pods(c.pod.Namespace).Get(ctx, c.pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.UID != c.pod.UID || pod.DeletionTimestamp != nil {
			return nil
		}
		all := true
		for i := range pod.Status.ContainerStatuses {
			cs := &pod.Status.ContainerStatuses[i]
			if cs.Name == c.ctr.Name {
				cs.Ready = ready
				if !ready {
					cs.RestartCount++
				}
			} else if !playedContainer(pod, cs.Name) {
				// kwok's not-ready stage left it unready; nothing runs it
				// to say otherwise, so it is ready as kwok would make it.
				cs.Ready = true
			}
			all = all && cs.Ready
		}
		now := metav1.Now()
		for i := range pod.Status.Conditions {
			cond := &pod.Status.Conditions[i]
			if cond.Type != corev1.PodReady && cond.Type != corev1.ContainersReady {
				continue
			}
			want := corev1.ConditionFalse
			if all {
				want = corev1.ConditionTrue
			}
			if cond.Status != want {
				cond.Status, cond.LastTransitionTime = want, now
			}
		}
		_, err = h.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		h.log.Warn("set pod readiness", "container", c.name(), "ready", ready, "err", err)
	}
}

// playedContainer reports whether a process of the harness plays the named
// container of pod (its image is a real program's).
func playedContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			_, ok := programFor(c.Image)
			return ok
		}
	}
	return false
}
