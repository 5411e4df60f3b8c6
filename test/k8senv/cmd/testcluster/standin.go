package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Stand-ins: small servers the harness of --real=controllers runs, in the
// container's pod, for containers whose programs cannot run on the bench
// (no container image runs here) but whose answers the real controllers
// or the user need. Each is named in testcluster.Simulated. Kourier's
// Envoy stand-in speaks xDS and so lives with net-kourier's module
// (test/upstream/net-kourier/gateway).

// runStandIn runs `testcluster standin NAME ARGS...` until ctx ends.
func runStandIn(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: testcluster standin model-server [--model_name=NAME] [--http_port=PORT]")
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, nil)).With("standin", args[0])
	switch args[0] {
	case "model-server":
		return runModelServer(ctx, log, args[1:])
	default:
		return fmt.Errorf("unknown stand-in %q (want model-server)", args[0])
	}
}

// runModelServer stands in for KServe's sklearn model server
// (kserve/sklearnserver): KServe's V1 inference protocol on --http_port,
// for the model --model_name, with the runtime's own arguments (others,
// such as --model_dir, are accepted and ignored: no model file is read).
func runModelServer(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("model-server", flag.ContinueOnError)
	name := fs.String("model_name", "model", "model name served at /v1/models/NAME")
	port := fs.Int("http_port", 8080, "HTTP port")
	fs.String("model_dir", "", "ignored: the stand-in's classifier is computed from the iris class statistics")
	fs.Int("grpc_port", 8081, "ignored: the stand-in serves HTTP only")
	fs.Int("workers", 1, "ignored")
	// The runtime may pass flags the stand-in does not know: accept them.
	var known []string
	for _, a := range args {
		n := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
		if fs.Lookup(n) != nil {
			known = append(known, a)
		}
	}
	if err := fs.Parse(known); err != nil {
		return err
	}
	l, err := net.Listen("tcp", ":"+strconv.Itoa(*port))
	if err != nil {
		return fmt.Errorf("model server: %w", err)
	}
	srv := &http.Server{Handler: modelHandler(*name), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("serving KServe V1 protocol", "model", *name, "addr", l.Addr().String())
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// modelHandler serves KServe's V1 protocol for one model: GET / (alive),
// GET /v1/models, GET /v1/models/NAME (ready) and
// POST /v1/models/NAME:predict ({"instances": [[4 numbers]...]} to
// {"predictions": [class...]}).
func modelHandler(name string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "alive"})
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"models": []string{name}})
	})
	mux.HandleFunc("/v1/models/{rest}", func(w http.ResponseWriter, r *http.Request) {
		model, verb, _ := strings.Cut(r.PathValue("rest"), ":")
		if model != name {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("Model with name %s does not exist.", model)})
			return
		}
		switch {
		case verb == "" && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, map[string]any{"name": name, "ready": true})
		case verb == "predict" && r.Method == http.MethodPost:
			var req struct {
				Instances [][]float64 `json:"instances"`
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err == nil {
				err = json.Unmarshal(body, &req)
			}
			if err == nil && len(req.Instances) == 0 {
				err = errors.New(`want {"instances": [[sepal length, sepal width, petal length, petal width], ...]}`)
			}
			var preds []int
			for i, x := range req.Instances {
				if err != nil {
					break
				}
				if len(x) != len(irisClasses[0].mean) {
					err = fmt.Errorf("instance %d has %d features, want %d (sepal length, sepal width, petal length, petal width in cm)", i, len(x), len(irisClasses[0].mean))
					break
				}
				preds = append(preds, classifyIris(x))
			}
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"predictions": preds})
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "not found: " + r.Method + " " + r.URL.Path})
		}
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// irisClass is one class of Fisher's iris data (R. A. Fisher, 1936; the
// UCI iris data set, 50 flowers per class): the mean and sample standard
// deviation of sepal length, sepal width, petal length and petal width in
// cm. The model the demo serves (KServe's sklearn iris example) predicts
// these classes by their index.
type irisClass struct {
	mean, sd [4]float64
}

var irisClasses = []irisClass{
	{mean: [4]float64{5.006, 3.428, 1.462, 0.246}, sd: [4]float64{0.3525, 0.3791, 0.1737, 0.1054}}, // 0 setosa
	{mean: [4]float64{5.936, 2.770, 4.260, 1.326}, sd: [4]float64{0.5162, 0.3138, 0.4699, 0.1978}}, // 1 versicolor
	{mean: [4]float64{6.588, 2.974, 5.552, 2.026}, sd: [4]float64{0.6359, 0.3225, 0.5519, 0.2747}}, // 2 virginica
}

// classifyIris is a Gaussian naive Bayes classifier with equal priors over
// irisClasses: the class under which x is most likely, each feature
// normal with the class's mean and deviation. (The plain nearest class
// mean is not enough: it puts the Golden Path's first flower,
// [6.8 2.8 4.8 1.4], in virginica, where the served model says
// versicolor.)
func classifyIris(x []float64) int {
	best, bestLL := 0, math.Inf(-1)
	for c, k := range irisClasses {
		ll := 0.0
		for i, v := range x {
			z := (v - k.mean[i]) / k.sd[i]
			ll += -0.5*z*z - math.Log(k.sd[i])
		}
		if ll > bestLL {
			best, bestLL = c, ll
		}
	}
	return best
}
