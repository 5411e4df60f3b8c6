// Command cainjector is cert-manager v1.21.1's CA injector, built from its
// packages (pkg/controller/cainjector) with the defaults of its
// CAInjectorConfiguration: every injectable kind and the Certificate data
// source enabled. It takes the flags cert-manager's chart passes (see
// flags below); an unknown flag is an error rather than ignored.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	logsapi "k8s.io/component-base/logs/api/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cainjector:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logf.InitLogs()
	defer logf.FlushLogs()

	var (
		kubeconfig, namespace, leaderNS, metricsAddr string
		leaderElect, certificates                    bool
		logging                                      = logsapi.NewLoggingConfiguration()
	)
	fs := pflag.NewFlagSet("cainjector", pflag.ContinueOnError)
	fs.StringVar(&kubeconfig, "kubeconfig", "", "path to a kubeconfig (default: KUBECONFIG, then in-cluster)")
	fs.StringVar(&namespace, "namespace", "", "only inject into objects of this namespace (default: all)")
	fs.BoolVar(&leaderElect, "leader-elect", true, "use leader election")
	fs.StringVar(&leaderNS, "leader-election-namespace", "kube-system", "namespace of the leader election lease")
	fs.StringVar(&metricsAddr, "metrics-listen-address", "0.0.0.0:9402", "metrics address; 0 disables")
	fs.BoolVar(&certificates, "enable-certificates-data-source", true, "read CA data from Certificates")
	logf.AddFlags(logging, fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if err := logf.ValidateAndApply(logging); err != nil {
		return fmt.Errorf("logging flags: %w", err)
	}
	ctrl.SetLogger(logf.Log)

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("client configuration: %w", err)
	}
	restCfg.UserAgent = "cert-manager-cainjector"

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, admissionregistrationv1.AddToScheme, apiextensionsv1.AddToScheme,
		apiregistrationv1.AddToScheme, cmapi.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return fmt.Errorf("scheme: %w", err)
		}
	}
	lease := 60 * time.Second
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                  scheme,
		LeaderElection:          leaderElect,
		LeaderElectionNamespace: leaderNS,
		LeaderElectionID:        "cert-manager-cainjector-leader-election",
		LeaseDuration:           &lease,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		// Secrets are watched as metadata only (see RegisterAllInjectors):
		// read them from the API, not from the cache.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		Namespace:                    namespace,
		EnableCertificatesDataSource: certificates,
		// The setups' resource names (unexported upstream).
		EnabledReconcilersFor: map[string]bool{
			"mutatingwebhookconfiguration": true, "validatingwebhookconfiguration": true,
			"apiservice": true, "customresourcedefinition": true,
		},
	})
	if err != nil {
		return fmt.Errorf("register injectors: %w", err)
	}
	return mgr.Start(ctx)
}
