package rpc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/medchain/medchain/node/zerotrust"
)

// ServerConfig configures the HTTP listener.
type ServerConfig struct {
	Listen             string        // host:port
	MaxBodyBytes       int           // request body limit
	BatchLimit         int           // calls per batch
	BatchResponseBytes int           // batch response limit
	MaxTxBytes         int           // submitted tx limit
	WaitTimeout        time.Duration // tx_submit wait bound
	Registry           *prometheus.Registry
	Logger             *slog.Logger
	Pprof              bool // serve /debug/pprof/
	// Handlers are extra HTTP handlers by mux pattern (e.g. FHIRHandlers'
	// "/fhir/"), served on the same listener with the same headers; an
	// authentication middleware wraps them like the JSON-RPC handler.
	Handlers map[string]http.Handler
	// TLS, if set, serves HTTPS (see ServerTLS); nil serves plain HTTP,
	// which node.Open allows only on loopback with rpc.insecure_http.
	TLS *tls.Config
	// Gate, if set, puts the zero-trust gate in front of every method:
	// request validation, then a session and Authorize per call.
	Gate *GateConfig
}

// Server is the JSON-RPC server. Start it with Serve; Close stops it.
type Server struct {
	cfg  ServerConfig
	rpc  *gethrpc.Server
	http *http.Server
	ln   net.Listener
	log  *slog.Logger
	// tx is the tx_ service, which the CBOR path calls too (serveCBOR).
	tx *TxAPI
	// methods are the registered JSON-RPC method names (see Methods):
	// every namespace registered with s.rpc adds its methods here, so
	// Methods, the gate and the CBOR path agree with what s.rpc serves
	// (TestMethodsListEverythingServed).
	methods []string
}

// NewServer registers every namespace over l.
func NewServer(l Ledger, cfg ServerConfig) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, rpc: gethrpc.NewServer(), log: cfg.Logger}
	s.rpc.SetHTTPBodyLimit(cfg.MaxBodyBytes)
	s.rpc.SetBatchLimits(cfg.BatchLimit, cfg.BatchResponseBytes)
	s.rpc.SetWebsocketReadLimit(int64(cfg.MaxBodyBytes))
	opts := Options{MaxTxBytes: cfg.MaxTxBytes, WaitTimeout: cfg.WaitTimeout}
	s.tx = &TxAPI{l: l, opts: opts, gated: cfg.Gate != nil}
	for name, svc := range map[string]any{
		"tx":       s.tx,
		"audit":    &AuditAPI{l: l},
		"consent":  &ConsentAPI{l: l},
		"chain":    &ChainAPI{l: l, jobs: &verifyJobs{}},
		"ehr":      &EHRAPI{l: l},
		"identity": &IdentityAPI{l: l},
		"node":     &NodeAPI{l: l},
		"contract": newContractAPI(l, opts, cfg.Gate),
		"crypto":   &CryptoAPI{},
		"fhir":     &FHIRAPI{l: l, opts: opts},
		"patient":  &PatientAPI{l: l},
	} {
		if err := s.rpc.RegisterName(name, svc); err != nil {
			return nil, fmt.Errorf("rpc: register %s: %w", name, err)
		}
		s.methods = append(s.methods, serviceMethods(name, svc)...)
	}
	if c, ok := l.(Cluster); ok {
		ca := &ClusterAPI{l: l, c: c}
		if err := s.rpc.RegisterName("cluster", ca); err != nil {
			return nil, fmt.Errorf("rpc: register cluster: %w", err)
		}
		s.methods = append(s.methods, serviceMethods("cluster", ca)...)
	}
	if c, ok := l.(ComplianceReporter); ok {
		ca := &ComplianceAPI{c: c}
		if err := s.rpc.RegisterName("compliance", ca); err != nil {
			return nil, fmt.Errorf("rpc: register compliance: %w", err)
		}
		s.methods = append(s.methods, serviceMethods("compliance", ca)...)
	}
	if cfg.Gate != nil {
		auth := &AuthAPI{g: *cfg.Gate}
		if err := s.rpc.RegisterName("auth", auth); err != nil {
			return nil, fmt.Errorf("rpc: register auth: %w", err)
		}
		sa := &SessionAPI{a: auth}
		if err := s.rpc.RegisterName("session", sa); err != nil {
			return nil, fmt.Errorf("rpc: register session: %w", err)
		}
		s.methods = append(s.methods, serviceMethods("auth", auth)...)
		s.methods = append(s.methods, serviceMethods("session", sa)...)
	}
	mux := http.NewServeMux()
	ws := s.rpc.WebsocketHandler([]string{"http://127.0.0.1", "http://localhost"})
	var api http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "websocket" {
			ws.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet && r.URL.Path == "/" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, "medchain JSON-RPC 2.0: POST application/json to this URL (or application/cbor for tx_submit and tx_submitBatch). Methods: docs/RPC.md")
			return
		}
		if r.Method == http.MethodPost && isCBOR(r.Header) {
			// Asked for CBOR: answered in CBOR, a refused media type
			// (a parameter, or one that does not parse) included.
			if _, err := zerotrust.CBORContentType(r.Header.Get("Content-Type")); err != nil {
				writeCBORError(w, http.StatusUnsupportedMediaType, nil, -32600, err.Error())
				return
			}
			s.serveCBOR(w, r)
			return
		}
		s.rpc.ServeHTTP(w, withRequestBase(r))
	})
	if cfg.Gate != nil {
		api = cfg.Gate.Gate.Validator().Middleware(s.gateHandler(api))
	}
	mux.Handle("/", withHeaders(api))
	for pattern, h := range cfg.Handlers {
		if cfg.Gate != nil {
			h = s.gateREST(h)
		}
		mux.Handle(pattern, withHeaders(h))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		st := l.Status()
		if st.Halted != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": st.Halted == "", "halted": st.Halted})
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		st := l.Status()
		if !st.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(map[string]any{"ready": st.Ready, "role": st.Role, "leader": st.Leader, "height": st.Height})
	})
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	}
	if cfg.Registry != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	return s, nil
}

// withHeaders sets security headers on every response.
func withHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'none'")
		h.ServeHTTP(w, r)
	})
}

// Listen binds the configured address; Addr is valid after it.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("rpc: listen %s: %w", s.cfg.Listen, err)
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.ln = ln
	return nil
}

// URL returns the server's base URL: https:// with TLS, else http://.
func (s *Server) URL() string {
	if s.cfg.TLS != nil {
		return "https://" + s.Addr()
	}
	return "http://" + s.Addr()
}

// ServerTLS returns the listener's TLS configuration: TLS 1.3 only, with the
// hybrid post-quantum X25519MLKEM768 key exchange preferred and X25519 as
// the fallback for clients without it.
func ServerTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("rpc: TLS certificate: %w (medchain certs writes dev ones)", err)
	}
	return &tls.Config{
		Certificates:     []tls.Certificate{cert},
		MinVersion:       tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519},
		NextProtos:       []string{"h2", "http/1.1"},
	}, nil
}

// Addr returns the bound address (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until Close; it returns nil after Close.
func (s *Server) Serve() error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("rpc: serve: %w", err)
	}
	return nil
}

// Handler returns the HTTP handler (for tests with httptest).
func (s *Server) Handler() http.Handler { return s.http.Handler }

// Close stops accepting requests, waits up to ctx for running ones, and
// stops the JSON-RPC server.
func (s *Server) Close(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	s.rpc.Stop()
	return err
}
