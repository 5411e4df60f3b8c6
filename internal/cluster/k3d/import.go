package k3d

import (
	"context"
	"errors"
	"fmt"
	"os"

	k3dclient "github.com/k3d-io/k3d/v5/pkg/client"
	k3dtypes "github.com/k3d-io/k3d/v5/pkg/types"
)

// importImages loads the image archives of Options.Images into every node
// of cl. It streams each archive into `ctr image import` on the nodes
// (k3d's direct mode), which returns the first node's failure: k3d's
// auto-detect mode picks the tools-node variant for a remote engine, and
// that one only logs failed copies and imports, so an offline workshop
// would go on with no images and fail later, pulling from nowhere.
func (p *Provider) importImages(ctx context.Context, cl *k3dtypes.Cluster) error {
	// k3d only warns about a name that is neither a file nor an image in
	// Docker; a missing archive must stop up instead.
	var errs []error
	for _, a := range p.opts.Images {
		st, err := os.Stat(a)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("image archive: %w", err))
		case st.IsDir():
			errs = append(errs, fmt.Errorf("image archive %s is a directory", a))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("import images into k3d cluster %s: %w", cl.Name, err)
	}
	p.log.Info("importing image archives", "cluster", cl.Name, "archives", len(p.opts.Images))
	if err := k3dclient.ImageImportIntoClusterMulti(ctx, p.rt, p.opts.Images, cl, k3dtypes.ImageImportOpts{Mode: k3dtypes.ImportModeDirect}); err != nil {
		return fmt.Errorf("import images into k3d cluster %s: %w", cl.Name, err)
	}
	return nil
}
