package content

// Names other packages (validate, verify, doctor) look objects up by. They
// are the seed platform's names, so its runbook commands keep working.
const (
	// BackstageNamespace and BackstageRelease name the Backstage Helm
	// release; the chart names its Deployment and Service after it.
	BackstageNamespace = "backstage"
	BackstageRelease   = "neuroscale-backstage"
	// BackstageSecret holds GITHUB_TOKEN (and the OAuth client in prod);
	// the container reads it as environment variables.
	BackstageSecret = "neuroscale-backstage-secrets"
	// BackstagePort is the port Backstage's backend listens on.
	BackstagePort = 7007
	// TemplatesConfigMap holds the model-endpoint Template and its
	// skeleton; TemplatesMountPath is where Backstage sees them as files.
	TemplatesConfigMap = "neuroscale-backstage-templates"
	TemplatesMountPath = "/app/templates/model-endpoint"
	// TemplateName is the Backstage Template's metadata.name.
	TemplateName = "kserve-model-endpoint"

	// IngressDomain is Knative's and KServe's domain: every name under
	// 127.0.0.1.sslip.io resolves to 127.0.0.1, where k3d's load balancer
	// (and so Kourier) listens, without touching /etc/hosts or DNS.
	IngressDomain = "127.0.0.1.sslip.io"
	// KourierIngressClass is the value of Knative's config-network
	// ingress-class that routes through Kourier.
	KourierIngressClass = "kourier.ingress.networking.knative.dev"
	// KourierInternalService is Kourier's cluster-local gateway; KServe's
	// local gateway must point here instead of Istio's.
	KourierInternalService = "kourier-internal.kourier-system.svc.cluster.local"

	// ApplicationSetName is the ArgoCD ApplicationSet that deploys merged
	// model endpoints when a GitOps repository is configured.
	ApplicationSetName = "neuroscale-model-endpoints"
	// ArgoCDNamespace and ArgoCDServer name ArgoCD's API and UI Service;
	// ArgoCDAdminSecret holds the admin password the chart generates
	// (until someone changes it and deletes the Secret).
	ArgoCDNamespace   = "argocd"
	ArgoCDServer      = "argocd-server"
	ArgoCDAdminSecret = "argocd-initial-admin-secret"
	// DemoName is the demo InferenceService in namespace default.
	DemoName      = "demo-iris-2"
	DemoNamespace = "default"
)
