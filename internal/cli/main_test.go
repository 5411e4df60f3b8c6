package cli

import (
	"os"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// TestMain starts the shared test cluster on the first testcluster.Get
// only: most tests here need none.
func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }
