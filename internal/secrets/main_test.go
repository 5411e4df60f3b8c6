package secrets

import (
	"os"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// TestMain shares one test cluster between the package's tests (internal
// and external); it starts only when a test first asks for it.
func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }
