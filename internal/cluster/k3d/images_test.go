package k3d

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"

	"github.com/neuroscale-dev/neuroscale/internal/cluster/k3d/dockertest"
)

// goModK3d is the k3d version go.mod requires.
func goModK3d(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/k3d-io/k3d/v5 (v\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod does not require github.com/k3d-io/k3d/v5")
	}
	return string(m[1])
}

func TestK3dVersionMatchesGoMod(t *testing.T) {
	want := goModK3d(t)
	if fallbackK3dVersion != want {
		t.Errorf("fallbackK3dVersion = %s, go.mod requires k3d %s", fallbackK3dVersion, want)
	}
	if got := k3dVersion(); got != want {
		t.Errorf("k3dVersion() = %s, go.mod requires %s", got, want)
	}
	if got := k3dtypes.DefaultRuntimeLabelsVar["k3d.version"]; got != want {
		t.Errorf("containers would be labelled k3d.version=%s, want %s", got, want)
	}
}

func TestImagesPinned(t *testing.T) {
	t.Setenv(k3dtypes.K3dEnvImageHelperTag, "")
	t.Setenv(k3dtypes.K3dEnvImageLoadbalancer, "")
	t.Setenv(k3dtypes.K3dEnvImageTools, "")
	tag := strings.TrimPrefix(goModK3d(t), "v")
	got := Images("rancher/k3s:v1.33.4-k3s1", true)
	want := []Image{
		{Role: ImageK3s, Ref: "rancher/k3s:v1.33.4-k3s1"},
		{Role: ImageProxy, Ref: "ghcr.io/k3d-io/k3d-proxy:" + tag},
		{Role: ImageTools, Ref: "ghcr.io/k3d-io/k3d-tools:" + tag},
		{Role: ImageRegistry, Ref: RegistryImage},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Images = %+v\nwant %+v", got, want)
	}
	if noCache := Images("rancher/k3s:v1", false); len(noCache) != 3 {
		t.Errorf("without the cache: %+v, want no registry image", noCache)
	}
	for _, img := range got {
		if strings.HasSuffix(img.Ref, ":latest") || !strings.Contains(img.Ref, ":") {
			t.Errorf("%s image %s is not pinned", img.Role, img.Ref)
		}
	}
}

func TestPullImages(t *testing.T) {
	imgs := Images("rancher/k3s:v1.33.4-k3s1", true)
	d := dockertest.Start(t, &dockertest.Daemon{
		// The proxy came with an earlier, interrupted up.
		Images: []dockertest.Image{{Ref: imgs[1].Ref}},
		Registry: []dockertest.Image{
			{Ref: imgs[0].Ref, Layers: []int64{50e6, 20e6}},
			{Ref: imgs[2].Ref, Layers: []int64{9e6}},
			{Ref: imgs[3].Ref, Layers: []int64{10e6}},
		},
	})
	var progress bytes.Buffer
	p := New(resolved(t, "dev"), nil, Options{Progress: &progress})
	dc := dockerClient(t)
	if err := p.pullImages(context.Background(), dc, imgs); err != nil {
		t.Fatal(err)
	}
	var pulls []string
	for _, r := range d.Requests() {
		if strings.HasPrefix(r, "POST /images/create") {
			pulls = append(pulls, r)
		}
	}
	if len(pulls) != 3 {
		t.Errorf("pulls %q, want 3 (the proxy image is present)", pulls)
	}
	for _, img := range imgs {
		if !d.HasImage(img.Ref) {
			t.Errorf("%s was not pulled", img.Ref)
		}
	}
	out := progress.String()
	for _, want := range []string{
		"pulling k3s image rancher/k3s:v1.33.4-k3s1: 25.0 MB of 50.0 MB",
		"pulling k3s image rancher/k3s:v1.33.4-k3s1: 70.0 MB of 70.0 MB",
		"pulled k3s image rancher/k3s:v1.33.4-k3s1: 70.0 MB downloaded",
		"pulled registry image " + RegistryImage + ": 10.0 MB downloaded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, imgs[1].Ref) {
		t.Errorf("progress mentions the present proxy image:\n%s", out)
	}

	// A second run finds everything and pulls nothing.
	before := len(d.Requests())
	if err := p.pullImages(context.Background(), dc, imgs); err != nil {
		t.Fatal(err)
	}
	if again := d.Requests()[before:]; len(again) != 0 {
		t.Errorf("second pull changed %q", again)
	}
}

func TestPullImagesFails(t *testing.T) {
	ref := "rancher/k3s:v1.33.4-k3s1"
	dockertest.Start(t, &dockertest.Daemon{PullErrors: map[string]string{ref: "net/http: TLS handshake timeout"}})
	p := New(resolved(t, "dev"), nil, Options{Progress: &bytes.Buffer{}})
	err := p.pullImages(context.Background(), dockerClient(t), []Image{{Role: ImageK3s, Ref: ref}})
	var pe *PullError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a PullError", err)
	}
	if !strings.Contains(err.Error(), "TLS handshake timeout") || !strings.Contains(err.Error(), ref) {
		t.Errorf("error %q lacks the image or Docker's reason", err)
	}
	if !strings.Contains(pe.Hint(), "resumes") {
		t.Errorf("hint %q does not say that a re-run resumes", pe.Hint())
	}
}

// imageArchive writes a `docker save`-like tarball naming ref.
func imageArchive(t *testing.T, ref string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	manifest := []byte(`[{"RepoTags":["` + ref + `"]}]`)
	if err := tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(manifest); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "images.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImportImages(t *testing.T) {
	archive := imageArchive(t, "kserve/sklearnserver:v0.15.2")
	tests := []struct {
		name    string
		images  []string
		exit    int
		wantErr string
		execs   int
	}{
		{name: "imported", images: []string{archive}, execs: 1},
		{name: "ctr fails", images: []string{archive}, exit: 1, wantErr: "failed with exit code '1'", execs: 1},
		{name: "archive missing", images: []string{archive, "/nonexistent/bundle.tar"}, wantErr: "/nonexistent/bundle.tar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dockertest.Start(t, clusterDaemon("neuroscale"))
			d.SetExecResult(func(e dockertest.Exec) (int, string) {
				if tt.exit != 0 {
					return tt.exit, "ctr: failed to import: no space left on device"
				}
				return 0, ""
			})
			p := New(resolved(t, "dev"), nil, Options{Images: tt.images})
			cl, err := p.get(context.Background())
			if err != nil || cl == nil {
				t.Fatalf("cluster: %v %v", cl, err)
			}
			err = p.importImages(context.Background(), cl)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
			execs := d.Execs()
			if len(execs) != tt.execs {
				t.Fatalf("execs %+v, want %d", execs, tt.execs)
			}
			if tt.execs == 0 {
				return
			}
			e := execs[0]
			want, _ := os.ReadFile(archive)
			if e.Container != "k3d-neuroscale-server-0" || strings.Join(e.Cmd, " ") != "ctr image import --all-platforms -" || !bytes.Equal(e.Stdin, want) {
				t.Errorf("exec %s %q read %d bytes; want ctr image import on the server reading the archive (%d bytes)", e.Container, e.Cmd, len(e.Stdin), len(want))
			}
		})
	}
}

// TestPullResumes breaks the k3s pull after its first layer: up fails
// with a hint to run it again, and the next run fetches only the rest.
func TestPullResumes(t *testing.T) {
	ref := "rancher/k3s:v1.33.4-k3s1"
	d := dockertest.Start(t, &dockertest.Daemon{
		Registry:        []dockertest.Image{{Ref: ref, Layers: []int64{40e6, 30e6, 1e6}}},
		PullBreaksAfter: map[string]int{ref: 1},
	})
	var progress bytes.Buffer
	p := New(resolved(t, "dev"), nil, Options{Progress: &progress})
	imgs := []Image{{Role: ImageK3s, Ref: ref}}
	err := p.pullImages(context.Background(), dockerClient(t), imgs)
	var pe *PullError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("got %v, want the broken pull's PullError", err)
	}
	if d.HasImage(ref) {
		t.Fatal("a broken pull left the image")
	}
	progress.Reset()
	if err := p.pullImages(context.Background(), dockerClient(t), imgs); err != nil {
		t.Fatal(err)
	}
	if want := "pulled k3s image " + ref + ": 31.0 MB downloaded, 1 layer(s) already present"; !strings.Contains(progress.String(), want) {
		t.Errorf("second pull's progress lacks %q:\n%s", want, progress.String())
	}
}
