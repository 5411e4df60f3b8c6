package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ContainerLog is one container's current log (everything since the
// container started), or why it could not be read.
type ContainerLog struct {
	Pod       string
	Container string
	// Started is when the container started, when known.
	Started time.Time
	Text    string
	Err     error
}

// maxLogBytes bounds what is read of one container's log.
const maxLogBytes = 8 << 20

// DeploymentLogs reads the logs of every container of the running pods of
// Deployment ns/name. A container whose log cannot be read is returned
// with Err (a simulated pod has none), not dropped, so callers can say
// that they could not look.
func DeploymentLogs(ctx context.Context, kube kubernetes.Interface, ns, name string) ([]ContainerLog, error) {
	pods, err := DeploymentPods(ctx, kube, ns, name)
	if err != nil {
		return nil, err
	}
	var out []ContainerLog
	for _, p := range pods {
		started := map[string]time.Time{}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running != nil {
				started[cs.Name] = cs.State.Running.StartedAt.Time
			}
		}
		for _, c := range p.Spec.Containers {
			l := ContainerLog{Pod: p.Name, Container: c.Name, Started: started[c.Name]}
			limit := int64(maxLogBytes)
			b, err := kube.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, LimitBytes: &limit}).DoRaw(ctx)
			if err != nil {
				l.Err = err
			} else {
				l.Text = string(b)
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// DeploymentPods returns the pods selected by Deployment ns/name that are
// not being deleted, sorted by name.
func DeploymentPods(ctx context.Context, kube kubernetes.Interface, ns, name string) ([]corev1.Pod, error) {
	d, err := kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get deployment %s/%s: %w", ns, name, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s selector: %w", ns, name, err)
	}
	list, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list pods of deployment %s/%s: %w", ns, name, err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods, nil
}

// CatalogRejections returns the distinct lines of a Backstage log that
// record the catalog refusing an entity: a NotAllowedError ("entity of
// kind Template is not allowed from that location") is the only trace of
// a location without the right allow rule; the UI shows nothing. JSON
// records are shortened to level, message, error and location; any line
// is cut to 400 characters for evidence.
func CatalogRejections(log string) []string {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(line)
		if !strings.Contains(line, "NotAllowedError") {
			continue
		}
		line = summarizeLogLine(line)
		if len(line) > 400 {
			line = line[:400] + "…"
		}
		if !seen[line] {
			seen[line] = true
			out = append(out, line)
		}
	}
	return out
}

// summarizeLogLine keeps what explains a JSON log record (Backstage's
// production log format) and drops the rest; other lines are returned as
// they are.
func summarizeLogLine(line string) string {
	var rec struct {
		Level    string `json:"level"`
		Message  string `json:"message"`
		Error    any    `json:"error"`
		Location *struct {
			Type   string `json:"type"`
			Target string `json:"target"`
		} `json:"location"`
	}
	if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &rec) != nil || rec.Message == "" {
		return line
	}
	s := strings.TrimSpace(rec.Level + " " + rec.Message)
	switch e := rec.Error.(type) {
	case string:
		s += ": " + e
	case map[string]any:
		if b, err := json.Marshal(e); err == nil {
			s += ": " + string(b)
		}
	}
	if rec.Location != nil {
		s += " (location " + rec.Location.Type + ":" + rec.Location.Target + ")"
	}
	return s
}

// maxLines bounds the log lines shown as evidence.
const maxLines = 5

// CatalogLog checks that the catalog rejected no entity: no Backstage
// container logged a catalog NotAllowedError since it started, and (with
// a forward to Backstage) no Location entity records one in its status,
// which is where Backstage 1.45's example backend keeps it: it does not
// log processing errors.
func CatalogLog(ctx context.Context, o Options) Result {
	res := Result{ID: CheckCatalogLog}
	n := o.Names
	logs, err := DeploymentLogs(ctx, o.Kube, n.BackstageNamespace, n.BackstageDeployment)
	if err != nil {
		return failed(res, err.Error(), "check that Backstage is installed: neuroscale status")
	}
	res = judgeCatalogLogs(res, logs)
	if o.BackstageURL == "" || res.Status == Fail {
		return res
	}
	if o.HTTP == nil {
		o.HTTP = http.DefaultClient
	}
	rejected, err := CatalogProcessingRejections(ctx, o.HTTP, o.BackstageURL)
	switch {
	case err != nil:
		res.Evidence += "; catalog API: " + err.Error()
	case len(rejected) > 0:
		res.Lines = firstLines(rejected, maxLines)
		return failed(res, "the catalog rejected entities (NotAllowedError for its Location entity: GET "+catalogLocationsPath+", POST "+catalogValidatePath+")",
			"the catalog location needs rules: [{allow: [Template]}]; neuroscale renders it, so run neuroscale up --reapply to restore the app-config, or fix the location you added")
	default:
		res.Evidence += "; none in the catalog's Location entities"
	}
	return res
}

func firstLines(lines []string, n int) []string {
	if len(lines) > n {
		return lines[:n]
	}
	return lines
}

// judgeCatalogLogs turns read logs into the check's result: fail on a
// rejection, unknown when no container had a log to read.
func judgeCatalogLogs(res Result, logs []ContainerLog) Result {
	var unreadable, read []string
	for _, l := range logs {
		who := l.Pod + "/" + l.Container
		switch {
		case l.Err != nil:
			unreadable = append(unreadable, fmt.Sprintf("%s: %v", who, l.Err))
			continue
		case strings.TrimSpace(l.Text) == "":
			unreadable = append(unreadable, who+": empty log")
			continue
		}
		read = append(read, who)
		for _, line := range CatalogRejections(l.Text) {
			if len(res.Lines) < maxLines {
				res.Lines = append(res.Lines, who+": "+line)
			}
		}
	}
	switch {
	case len(res.Lines) > 0:
		since := ""
		for _, l := range logs {
			if !l.Started.IsZero() {
				since = " since " + l.Started.UTC().Format(time.RFC3339)
				break
			}
		}
		return failed(res, fmt.Sprintf("the catalog rejected entities (NotAllowedError in Backstage's log%s)", since),
			"the catalog location needs rules: [{allow: [Template]}]; neuroscale renders it, so run neuroscale up --reapply to restore the app-config, or fix the location you added")
	case len(read) == 0 && len(logs) == 0:
		res.Status, res.Evidence = Unknown, "no Backstage pods to read logs from"
	case len(read) == 0:
		res.Status, res.Evidence = Unknown, "no logs available: "+strings.Join(unreadable, "; ")
	default:
		res.Status = Pass
		res.Evidence = fmt.Sprintf("no NotAllowedError in %s since start", strings.Join(read, ", "))
		if len(unreadable) > 0 {
			res.Evidence += "; unreadable: " + strings.Join(unreadable, "; ")
		}
	}
	return res
}
