package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Dev TLS files inside a data dir (see DevCerts).
const (
	TLSDir        = "tls"
	CACertFile    = "tls/ca.crt"
	caKeyFile     = "tls/ca.key"
	ServerCrtFile = "tls/server.crt"
	ServerKeyFile = "tls/server.key"
)

// CertsResult names the files DevCerts wrote.
type CertsResult struct {
	CA     string   `json:"ca"`
	Cert   string   `json:"cert"`
	Key    string   `json:"key"`
	Hosts  []string `json:"hosts"`
	Expiry string   `json:"expiry"`
}

// DevCerts writes a development PKI into dataDir: a local CA (tls/ca.crt,
// its key tls/ca.key) and a server certificate it signs for 127.0.0.1, ::1,
// localhost and extra hosts (tls/server.crt, tls/server.key). Keys are ECDSA
// P-256 with mode 0600. An existing CA is reused, so clients that trust it
// keep working; the server certificate is replaced. Production nodes use
// certificates from the consortium's own CA instead.
func DevCerts(dataDir string, extraHosts ...string) (*CertsResult, error) {
	dir := filepath.Join(dataDir, TLSDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: certs: %w", err)
	}
	now := time.Now()
	caCert, caKey, err := loadCA(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		caCert, caKey, err = newCA(dataDir, now)
	}
	if err != nil {
		return nil, err
	}
	hosts := append([]string{"127.0.0.1", "::1", "localhost"}, extraHosts...)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("node: certs: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "medchain dev node", Organization: []string{"medchain dev"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(397 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("node: certs: sign server certificate: %w", err)
	}
	res := &CertsResult{CA: filepath.Join(dataDir, CACertFile), Cert: filepath.Join(dataDir, ServerCrtFile),
		Key: filepath.Join(dataDir, ServerKeyFile), Hosts: hosts, Expiry: tmpl.NotAfter.UTC().Format(time.RFC3339)}
	if err := writeKey(res.Key, key); err != nil {
		return nil, err
	}
	if err := writePEM(res.Cert, "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}
	return res, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("node: crypto/rand failed: " + err.Error())
	}
	return n
}

func newCA(dataDir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("node: certs: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "medchain dev CA", Organization: []string{"medchain dev"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("node: certs: CA: %w", err)
	}
	if err := writeKey(filepath.Join(dataDir, caKeyFile), key); err != nil {
		return nil, nil, err
	}
	if err := writePEM(filepath.Join(dataDir, CACertFile), "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func loadCA(dataDir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(filepath.Join(dataDir, CACertFile))
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(filepath.Join(dataDir, caKeyFile))
	if err != nil {
		return nil, nil, err
	}
	cp, _ := pem.Decode(cb)
	kp, _ := pem.Decode(kb)
	if cp == nil || kp == nil {
		return nil, nil, fmt.Errorf("node: certs: %s or its key is not PEM", CACertFile)
	}
	cert, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("node: certs: %s: %w", CACertFile, err)
	}
	key, err := x509.ParseECPrivateKey(kp.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("node: certs: CA key: %w", err)
	}
	return cert, key, nil
}

func writeKey(path string, k *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return fmt.Errorf("node: certs: %w", err)
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

// writePEM writes atomically with mode perm.
func writePEM(path, typ string, der []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("node: certs: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("node: certs: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("node: certs: %w", err)
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return fmt.Errorf("node: certs: %w", err)
	}
	return os.Rename(tmp, path)
}
