// Command sim plays, on a kwok cluster, the controllers that cannot run
// there, so that installs and waits are tested against real watches:
//
//   - LoadBalancer Services get status.loadBalancer.ingress 127.0.0.1, as
//     k3s's servicelb gives them on a laptop;
//   - a default StorageClass "standard", and for each Pending claim of it a
//     hostPath PersistentVolume pre-bound to the claim, which
//     kube-controller-manager then binds (as k3s's local-path provisioner);
//   - KServe InferenceServices (serving.kserve.io/v1beta1) get the status
//     KServe's controller writes once ready;
//   - ArgoCD Applications (argoproj.io/v1alpha1) become Synced and Healthy;
//   - with --laptop, a laptop's image pulls and start times (laptop.go):
//     a pod turns Ready only once its images came over a shared link into
//     its node's cache and its workload's start time has passed.
//
// Custom resources are watched only once their CRD is Established, so sim
// can start before the charts that bring those CRDs.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the test cluster")
	resync := flag.Duration("resync", 30*time.Second, "how often every object is looked at again, to retry failed updates")
	laptop := flag.String("laptop", "", "laptop model file (image sizes, bandwidth, start times); the test cluster's pod-ready stages must wait for "+StartedAnnotation)
	leave := flag.String("leave-status", "", "comma-separated resources (RESOURCE.GROUP) whose status a real controller on the bench writes: sim plays no controller for them")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, log, *kubeconfig, *resync, *laptop, strings.Split(*leave, ",")); err != nil {
		log.Error("sim failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, kubeconfig string, resync time.Duration, laptopPath string, leave []string) error {
	var laptop *laptopModel
	if laptopPath != "" {
		var err error
		if laptop, err = readLaptop(laptopPath); err != nil {
			return err
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "neuroscale-testcluster-sim"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	s := &sim{log: log, cs: cs, dyn: dyn, resync: resync, laptop: laptop != nil, leave: map[string]bool{}}
	for _, r := range leave {
		if r = strings.TrimSpace(r); r != "" {
			s.leave[r] = true
		}
	}
	if err := s.ensureStorageClass(ctx); err != nil {
		return err
	}
	s.runCore(ctx)
	s.runCustomResources(ctx)
	if laptop != nil {
		s.runLaptop(ctx, laptop)
	}
	log.Info("sim running")
	<-ctx.Done()
	return nil
}

// sim holds the clients shared by the simulated controllers.
type sim struct {
	log    *slog.Logger
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	resync time.Duration
	// laptop is on with --laptop: InferenceServices then wait for their
	// predictor pod (predictor.go).
	laptop bool
	// leave holds the resources (RESOURCE.GROUP) whose controller runs for
	// real on the bench (--real=controllers): sim writes no status for
	// them and, for InferenceServices, creates no stand-in predictor pod.
	leave map[string]bool

	mu sync.Mutex
	// kickISVC looks at an InferenceService again (set while they are
	// watched), when its predictor pod turned Ready.
	kickISVC func(namespace, name string)
}
