// Command controller is cert-manager v1.21.1's controller, built from its
// packages: the controllers upstream enables by default, run through
// pkg/controller's context factory, with the default values of upstream's
// ControllerConfiguration v1alpha1. Upstream's command (cmd/controller/app)
// is a nested module the Go module proxy does not serve; this one takes
// the flags cert-manager's chart passes (an unknown flag is an error), runs
// without leader election (one replica on the bench) and serves /livez on
// --healthz-listen-address but no metrics. The Venafi issuer is left out:
// its client module (github.com/Venafi/vcert/v5 v5.13.7) is not on the
// proxy, and upstream's configuration package imports it, so the defaults
// below are upstream's values written out.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	logsapi "k8s.io/component-base/logs/api/v1"

	config "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	cm "github.com/cert-manager/cert-manager/pkg/apis/certmanager"
	controller "github.com/cert-manager/cert-manager/pkg/controller"
	challengescontroller "github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	orderscontroller "github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	shimingresscontroller "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	cracmecontroller "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/acme"
	crapprovercontroller "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crcacontroller "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsignedcontroller "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	crvaultcontroller "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/vault"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	certificatesmetricscontroller "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	clusterissuerscontroller "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	issuerscontroller "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"

	// The issuer types the certificaterequests controllers sign with.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/vault"
)

// defaultEnabled is upstream's DefaultEnabledControllers without Venafi's.
var defaultEnabled = []string{
	issuerscontroller.ControllerName, clusterissuerscontroller.ControllerName,
	certificatesmetricscontroller.ControllerName, shimingresscontroller.ControllerName,
	orderscontroller.ControllerName, challengescontroller.ControllerName,
	cracmecontroller.CRControllerName, crapprovercontroller.ControllerName,
	crcacontroller.CRControllerName, crselfsignedcontroller.CRControllerName,
	crvaultcontroller.CRControllerName,
	trigger.ControllerName, issuing.ControllerName, keymanager.ControllerName,
	requestmanager.ControllerName, readiness.ControllerName, revisionmanager.ControllerName,
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logf.InitLogs()
	defer logf.FlushLogs()

	cfg, err := defaultConfiguration()
	if err != nil {
		return err
	}
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	var leaderNS string
	fs.StringVar(&cfg.KubeConfig, "kubeconfig", cfg.KubeConfig, "path to a kubeconfig (default: KUBECONFIG, then in-cluster)")
	fs.StringVar(&cfg.Namespace, "namespace", cfg.Namespace, "only watch this namespace (default: all)")
	fs.StringVar(&cfg.ClusterResourceNamespace, "cluster-resource-namespace", cfg.ClusterResourceNamespace, "namespace for the secrets of ClusterIssuers")
	fs.StringVar(&leaderNS, "leader-election-namespace", cfg.LeaderElectionConfig.Namespace, "accepted for the chart's sake; the bench runs one replica without leader election")
	fs.StringVar(&cfg.ACMEHTTP01Config.SolverImage, "acme-http01-solver-image", cfg.ACMEHTTP01Config.SolverImage, "image of the ACME HTTP-01 solver pods")
	fs.IntVar(&cfg.MaxConcurrentChallenges, "max-concurrent-challenges", cfg.MaxConcurrentChallenges, "ACME challenges processed at once")
	fs.StringSliceVar(&cfg.Controllers, "controllers", cfg.Controllers, "controllers to run (* = upstream's defaults)")
	fs.StringVar(&cfg.HealthzListenAddress, "healthz-listen-address", cfg.HealthzListenAddress, "address of /livez")
	fs.BoolVar(&cfg.EnableCertificateOwnerRef, "enable-certificate-owner-ref", cfg.EnableCertificateOwnerRef, "owner references from secrets to certificates")
	logf.AddFlags(&cfg.Logging, fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if err := logf.ValidateAndApply(&cfg.Logging); err != nil {
		return fmt.Errorf("logging flags: %w", err)
	}
	log := logf.Log.WithName("controller")
	ctx = logf.NewContext(ctx, log)

	opts, err := contextOptions(cfg)
	if err != nil {
		return err
	}
	factory, err := controller.NewContextFactory(ctx, opts)
	if err != nil {
		return fmt.Errorf("controller context: %w", err)
	}
	enabled := enabledControllers(cfg.Controllers)
	var run []func(context.Context) error
	for _, name := range enabled {
		fn, ok := controller.Known()[name]
		if !ok {
			return fmt.Errorf("controller %q is not registered", name)
		}
		iface, err := fn(factory)
		if err != nil {
			return fmt.Errorf("construct controller %s: %w", name, err)
		}
		workers := cfg.NumberOfConcurrentWorkers
		run = append(run, func(ctx context.Context) error { return iface.Run(workers, ctx) })
	}
	// The informer factories are shared by every controller: start them
	// after all controllers registered their informers.
	shared, err := factory.Build()
	if err != nil {
		return fmt.Errorf("controller context: %w", err)
	}
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	if shared.GatewaySolverEnabled {
		shared.GWShared.Start(ctx.Done())
	}
	log.Info("starting controllers", "controllers", enabled)

	srv := &http.Server{Addr: cfg.HealthzListenAddress, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "healthz server")
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, len(run))
	for _, r := range run {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- r(ctx) }()
	}
	<-ctx.Done()
	shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = srv.Shutdown(shutdown)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// defaultConfiguration holds the values upstream's
// SetDefaults_ControllerConfiguration (v1.21.1) gives.
func defaultConfiguration() (*config.ControllerConfiguration, error) {
	cfg := &config.ControllerConfiguration{
		KubernetesAPIQPS:                20,
		KubernetesAPIBurst:              50,
		ClusterResourceNamespace:        "kube-system",
		Controllers:                     []string{"*"},
		ClusterIssuerAmbientCredentials: true,
		CopiedAnnotationPrefixes:        []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
		NumberOfConcurrentWorkers:       5,
		MaxConcurrentChallenges:         60,
		MetricsListenAddress:            "0.0.0.0:9402",
		HealthzListenAddress:            "0.0.0.0:9403",
		IngressShimConfig: config.IngressShimConfig{
			DefaultIssuerKind:                 "Issuer",
			DefaultIssuerGroup:                cm.GroupName,
			DefaultAutoCertificateAnnotations: []string{"kubernetes.io/tls-acme"},
		},
		ACMEHTTP01Config: config.ACMEHTTP01Config{
			SolverImage:                 "quay.io/jetstack/cert-manager-acmesolver:" + util.AppVersion,
			SolverResourceRequestCPU:    "10m",
			SolverResourceRequestMemory: "64Mi",
			SolverResourceLimitsCPU:     "100m",
			SolverResourceLimitsMemory:  "64Mi",
			SolverRunAsNonRoot:          true,
		},
		ACMEDNS01Config:                          config.ACMEDNS01Config{CheckRetryPeriod: 10 * time.Second},
		CertificateRequestMinimumBackoffDuration: time.Hour,
		CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
	}
	logsapi.SetRecommendedLoggingConfiguration(&cfg.Logging)
	return cfg, nil
}

// enabledControllers resolves "*" (upstream's default set) and "-name".
func enabledControllers(list []string) []string {
	enabled := sets.New[string]()
	for _, c := range list {
		switch {
		case c == "*":
			enabled.Insert(defaultEnabled...)
		case len(c) > 1 && c[0] == '-':
			enabled.Delete(c[1:])
		default:
			enabled.Insert(c)
		}
	}
	out := sets.List(enabled)
	slices.Sort(out)
	return out
}

func contextOptions(cfg *config.ControllerConfiguration) (controller.ContextOptions, error) {
	q := func(s string) (resource.Quantity, error) { return resource.ParseQuantity(s) }
	reqCPU, err := q(cfg.ACMEHTTP01Config.SolverResourceRequestCPU)
	if err != nil {
		return controller.ContextOptions{}, fmt.Errorf("solver cpu request: %w", err)
	}
	reqMem, err := q(cfg.ACMEHTTP01Config.SolverResourceRequestMemory)
	if err != nil {
		return controller.ContextOptions{}, fmt.Errorf("solver memory request: %w", err)
	}
	limCPU, err := q(cfg.ACMEHTTP01Config.SolverResourceLimitsCPU)
	if err != nil {
		return controller.ContextOptions{}, fmt.Errorf("solver cpu limit: %w", err)
	}
	limMem, err := q(cfg.ACMEHTTP01Config.SolverResourceLimitsMemory)
	if err != nil {
		return controller.ContextOptions{}, fmt.Errorf("solver memory limit: %w", err)
	}
	return controller.ContextOptions{
		Kubeconfig:         cfg.KubeConfig,
		KubernetesAPIQPS:   cfg.KubernetesAPIQPS,
		KubernetesAPIBurst: cfg.KubernetesAPIBurst,
		Namespace:          cfg.Namespace,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace:        cfg.ClusterResourceNamespace,
			ClusterIssuerAmbientCredentials: cfg.ClusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        cfg.IssuerAmbientCredentials,
		},
		ACMEOptions: controller.ACMEOptions{
			HTTP01SolverImage:                 cfg.ACMEHTTP01Config.SolverImage,
			HTTP01SolverResourceRequestCPU:    reqCPU,
			HTTP01SolverResourceRequestMemory: reqMem,
			HTTP01SolverResourceLimitsCPU:     limCPU,
			HTTP01SolverResourceLimitsMemory:  limMem,
			ACMEHTTP01SolverRunAsNonRoot:      cfg.ACMEHTTP01Config.SolverRunAsNonRoot,
			HTTP01SolverNameservers:           cfg.ACMEHTTP01Config.SolverNameservers,
			DNS01CheckAuthoritative:           !cfg.ACMEDNS01Config.RecursiveNameserversOnly,
			DNS01Nameservers:                  cfg.ACMEDNS01Config.RecursiveNameservers,
			DNS01CheckRetryPeriod:             cfg.ACMEDNS01Config.CheckRetryPeriod,
		},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerName:                 cfg.IngressShimConfig.DefaultIssuerName,
			DefaultIssuerKind:                 cfg.IngressShimConfig.DefaultIssuerKind,
			DefaultIssuerGroup:                cfg.IngressShimConfig.DefaultIssuerGroup,
			DefaultAutoCertificateAnnotations: cfg.IngressShimConfig.DefaultAutoCertificateAnnotations,
			ExtraCertificateAnnotations:       cfg.IngressShimConfig.ExtraCertificateAnnotations,
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           cfg.EnableCertificateOwnerRef,
			CopiedAnnotationPrefixes:                 cfg.CopiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: cfg.CertificateRequestMinimumBackoffDuration,
			CertificateRequestMaximumBackoffDuration: cfg.CertificateRequestMaximumBackoffDuration,
		},
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: cfg.MaxConcurrentChallenges},
	}, nil
}
