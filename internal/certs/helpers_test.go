package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// t0 is the "now" of every test; certificates are made around it.
var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// pair is a certificate with its key, as made by the helpers below.
type pair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func (p pair) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.cert.Raw})
}

func (p pair) keyPEM(t *testing.T) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// spec describes a test certificate; zero times mean "valid for a year around t0".
type spec struct {
	cn        string
	ca        bool
	notBefore time.Time
	notAfter  time.Time
	usage     []x509.ExtKeyUsage
}

// mkCert issues a certificate for a fresh key, signed by parent (nil: self-signed).
func mkCert(t *testing.T, s spec, parent *pair) pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if s.notBefore.IsZero() {
		s.notBefore = t0.Add(-24 * time.Hour)
	}
	if s.notAfter.IsZero() {
		s.notAfter = t0.Add(365 * 24 * time.Hour)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: s.cn},
		NotBefore:    s.notBefore,
		NotAfter:     s.notAfter,
		ExtKeyUsage:  s.usage,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if s.ca {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	parentCert, signer := tmpl, key
	if parent != nil {
		parentCert, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return pair{cert, key}
}

// certSet is a complete, valid certificate directory.
type certSet struct {
	dir                  string
	root, server, client pair
}

// writeFile writes data at dir/rel, creating directories.
func writeFile(t *testing.T, dir, rel string, data []byte, perm os.FileMode) {
	t.Helper()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
}

// newCertSet writes rootCA, server and client certificates with keys into a temp directory.
func newCertSet(t *testing.T) certSet {
	t.Helper()
	s := certSet{dir: t.TempDir()}
	s.root = mkCert(t, spec{cn: "test root", ca: true}, nil)
	s.server = mkCert(t, spec{cn: "test server", usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &s.root)
	s.client = mkCert(t, spec{cn: "test client", usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, &s.root)
	for _, f := range []struct {
		name string
		p    pair
	}{{"rootCA", s.root}, {"server", s.server}, {"client", s.client}} {
		writeFile(t, s.dir, f.name+".crt", f.p.certPEM(), 0o644)
		writeFile(t, s.dir, f.name+".key", f.p.keyPEM(t), 0o600)
	}
	return s
}

// concat joins PEM files.
func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// pemBlock encodes one PEM block.
func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
