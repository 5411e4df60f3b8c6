package forward

import (
	"os"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/testcluster"
)

// TestMain shares one test cluster among the package's cluster tests; the
// unit tests never start it.
func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }
