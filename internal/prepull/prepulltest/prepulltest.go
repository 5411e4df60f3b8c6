// Package prepulltest renders the real platform whose images up pre-pulls,
// for the tests of the pre-pull and its pullers. It is imported only by
// tests.
package prepulltest

import (
	"context"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/render"
)

// Platform renders the dev profile with the demo from the upstream
// fixtures, into a cache of the test's own.
func Platform(t testing.TB) *render.Platform {
	t.Helper()
	p, _ := PlatformConfig(t)
	return p
}

// PlatformConfig is Platform and the resolved configuration it was
// rendered from.
func PlatformConfig(t testing.TB) (*render.Platform, *config.Resolved) {
	t.Helper()
	r, err := config.Resolve(&config.Platform{
		APIVersion: config.APIVersion, Kind: config.KindPlatform, Profile: "dev",
		Sources:    config.Sources{Mirror: catalogtest.MirrorURL(t), CacheDir: t.TempDir()},
		Components: config.Components{Demo: &config.Component{Enabled: ptr.To(true)}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := render.Render(context.Background(), r, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p, r
}
