package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
)

// DefaultValidity is the lifetime of generated certificates when GenerateOptions.Validity is
// zero: 825 days, the longest TLS server certificate lifetime Apple platforms accept.
const DefaultValidity = 825 * 24 * time.Hour

// clockSkew backdates NotBefore so a container whose clock runs a little behind the host
// still accepts a certificate generated a moment ago.
const clockSkew = time.Hour

// GenerateOptions configures Generate.
type GenerateOptions struct {
	Hosts    []string      // extra server SANs (DNS names or IPs), e.g. compose service names
	Now      time.Time     // issue time; zero means time.Now()
	Validity time.Duration // lifetime of every generated certificate; zero means DefaultValidity
}

// generated lists the files Generate manages, in the order it writes them: each key before its
// certificate, so an interruption leaves at worst a key without a certificate, which a later
// run completes.
var generated = []string{RootCAKey, RootCACert, ServerKey, ServerCert, ClientKey, ClientCert}

// Plan lists the files Generate would create in dir, in the order it would create them, or the
// error it would stop with. It writes nothing.
func Plan(dir string) (missing []string, err error) {
	present := map[string]bool{}
	for _, name := range generated {
		_, err := os.Lstat(filepath.Join(dir, name))
		switch {
		case err == nil:
			present[name] = true
		case !notFound(err):
			return nil, fmt.Errorf("plan certificates in %s: %w", dir, err)
		}
	}
	return planFiles(dir, present)
}

// planFiles decides what to create from which files exist. Nothing present is ever replaced:
//   - a leaf certificate without its key cannot be completed (it needs that key);
//   - a leaf key without its certificate gets a certificate issued for that key;
//   - rootCA.key without rootCA.crt is refused: it may be a real CA's key and the certificate
//     issued for it would not be the one existing certificates chain to;
//   - rootCA.crt without rootCA.key is fine only if there is nothing to sign;
//   - no CA at all while leaf certificates exist is refused: a new CA would not have signed them.
func planFiles(dir string, present map[string]bool) ([]string, error) {
	var missing, toSign, leafCerts []string
	for _, p := range leafPairs {
		switch {
		case present[p.cert] && !present[p.key]:
			return nil, fmt.Errorf("generate certificates in %s: %s exists without %s: restore %s, or delete %s to generate a new pair", dir, p.cert, p.key, p.key, p.cert)
		case present[p.cert]:
			leafCerts = append(leafCerts, p.cert)
		case present[p.key]:
			missing = append(missing, p.cert)
			toSign = append(toSign, p.cert)
		default:
			missing = append(missing, p.key, p.cert)
			toSign = append(toSign, p.cert)
		}
	}
	caCert, caKey := present[RootCACert], present[RootCAKey]
	switch {
	case caCert && caKey:
	case caKey:
		return nil, fmt.Errorf("generate certificates in %s: %s exists without %s: restore %s, or delete %s to generate a new development CA", dir, RootCAKey, RootCACert, RootCACert, RootCAKey)
	case caCert && len(toSign) > 0:
		return nil, fmt.Errorf("generate certificates in %s: cannot sign %s: %s exists but %s does not, and a certificate can only be signed with the CA's private key: put the CA key at %s, or create %s with your own CA",
			dir, strings.Join(toSign, " and "), RootCACert, RootCAKey, filepath.Join(dir, RootCAKey), strings.Join(toSign, " and "))
	case caCert:
	case len(leafCerts) > 0:
		verb := "exists"
		if len(leafCerts) > 1 {
			verb = "exist"
		}
		return nil, fmt.Errorf("generate certificates in %s: %s %s but %s does not, and a new CA would not have signed them: restore %s, or delete %s with their keys to generate a new set",
			dir, strings.Join(leafCerts, " and "), verb, RootCACert, RootCACert, strings.Join(leafCerts, " and "))
	default:
		missing = append([]string{RootCAKey, RootCACert}, missing...)
	}
	return missing, nil
}

// Generate is the explicit opt-in for development certificates: it creates a development CA
// (rootCA.crt, rootCA.key) and server.crt/server.key (SANs localhost, 127.0.0.1, ::1 and
// opts.Hosts; server auth) and client.crt/client.key (client auth) signed by it, with ECDSA
// P-256 keys. It never overwrites a file: existing files are left alone and not listed in
// created; an existing CA (rootCA.crt + rootCA.key) signs whatever is missing. Keys are written
// 0600, certificates 0644; a directory Generate creates is 0755. created holds file names
// relative to dir, in the order they were written. To reissue a certificate (say, for new
// Hosts), delete it and its key first.
func Generate(dir string, opts GenerateOptions) (created []string, err error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("generate certificates in %s: negative validity %s", dir, validity)
	}
	dnsNames, ips, err := serverSANs(opts.Hosts)
	if err != nil {
		return nil, fmt.Errorf("generate certificates in %s: %w", dir, err)
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	missing, err := Plan(dir)
	if err != nil || len(missing) == 0 {
		return nil, err
	}

	g := &generator{dir: dir, now: now, validity: validity}
	defer func() {
		if err != nil {
			g.removeOrphanKeys()
		}
	}()
	todo := map[string]bool{}
	for _, name := range missing {
		todo[name] = true
	}
	if todo[RootCACert] {
		err = g.newCA()
	} else {
		err = g.loadCA()
	}
	if err != nil {
		return g.created, err
	}
	leaves := []struct {
		pair leafPair
		tmpl x509.Certificate
	}{
		{leafPairs[0], x509.Certificate{
			Subject:     pkix.Name{CommonName: "dindbundler development server"},
			DNSNames:    dnsNames,
			IPAddresses: ips,
		}},
		{leafPairs[1], x509.Certificate{
			Subject: pkix.Name{CommonName: "dindbundler development client"},
		}},
	}
	for _, l := range leaves {
		if !todo[l.pair.cert] {
			continue
		}
		if err = g.leaf(l.pair, todo[l.pair.key], l.tmpl); err != nil {
			return g.created, err
		}
	}
	return g.created, nil
}

// makeDir creates dir as 0755 (whatever the umask) if it does not exist; an existing
// directory keeps its mode.
func makeDir(dir string) error {
	_, err := os.Stat(dir)
	if err == nil {
		return nil
	}
	if !notFound(err) {
		return fmt.Errorf("check certificate directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create certificate directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("create certificate directory %s: %w", dir, err)
	}
	return nil
}

// serverSANs splits the server's subject alternative names into DNS names and IPs, always
// including localhost, 127.0.0.1 and ::1, without duplicates.
func serverSANs(hosts []string) ([]string, []net.IP, error) {
	dns := []string{"localhost"}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	seenDNS := map[string]bool{"localhost": true}
	seenIP := map[string]bool{"127.0.0.1": true, "::1": true}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !seenIP[ip.String()] {
				seenIP[ip.String()] = true
				ips = append(ips, ip)
			}
			continue
		}
		if !validDNSName(h) {
			return nil, nil, fmt.Errorf("host %q is neither an IP address nor a DNS name (letters, digits, '-', '_', '.', optional leading '*.'): fix the host list", h)
		}
		h = strings.ToLower(h)
		if !seenDNS[h] {
			seenDNS[h] = true
			dns = append(dns, h)
		}
	}
	return dns, ips, nil
}

// validDNSName accepts host names and compose service names (which may hold '_'), with an
// optional wildcard first label.
func validDNSName(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}

// generator holds the CA that signs and what has been written so far.
type generator struct {
	dir      string
	now      time.Time
	validity time.Duration
	caCert   *x509.Certificate
	caKey    crypto.Signer
	created  []string
}

// newCA creates and writes a development CA.
func (g *generator) newCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate %s: %w", RootCAKey, err)
	}
	// A random suffix tells apart the development CAs of different checkouts once someone
	// trusts one in a browser or OS store.
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return fmt.Errorf("generate %s: %w", RootCACert, err)
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{
			CommonName:   "dindbundler development CA " + hex.EncodeToString(suffix),
			Organization: []string{"dindbundler development"},
		},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // signs leaves only
	}
	der, err := g.sign(tmpl, nil, key.Public(), key)
	if err != nil {
		return fmt.Errorf("generate %s: %w", RootCACert, err)
	}
	if err := g.writeKey(RootCAKey, key); err != nil {
		return err
	}
	if err := g.write(RootCACert, "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	g.caCert, err = x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("generate %s: %w", RootCACert, err)
	}
	g.caKey = key
	return nil
}

// loadCA reads an existing CA and makes sure it can sign valid certificates.
func (g *generator) loadCA() error {
	certs, err := readRootCA(g.dir)
	if err != nil {
		return fmt.Errorf("load CA: %w", err)
	}
	cert := certs[0]
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return fmt.Errorf("load CA: %s is not a CA certificate: point CERT_DIR at a CA, or delete %s and %s to generate a development CA", RootCACert, RootCACert, RootCAKey)
	}
	if !g.now.Before(cert.NotAfter) {
		return fmt.Errorf("load CA: %s expired on %s: delete %s, %s and the certificates it signed to generate a new set", RootCACert, cert.NotAfter.UTC().Format("2006-01-02"), RootCACert, RootCAKey)
	}
	key, err := readPrivateKey(filepath.Join(g.dir, RootCAKey))
	if err != nil {
		return fmt.Errorf("load CA: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok || !samePublicKey(cert.PublicKey, signer.Public()) {
		return fmt.Errorf("load CA: %s does not hold the private key of %s: restore the matching key", RootCAKey, RootCACert)
	}
	g.caCert, g.caKey = cert, signer
	return nil
}

// leaf issues p.cert from tmpl, for a new key or the one already in p.key.
func (g *generator) leaf(p leafPair, newKey bool, tmpl x509.Certificate) error {
	var pub crypto.PublicKey
	var key *ecdsa.PrivateKey
	if newKey {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return fmt.Errorf("generate %s: %w", p.key, err)
		}
		pub = key.Public()
	} else {
		existing, err := readPrivateKey(filepath.Join(g.dir, p.key))
		if err != nil {
			return fmt.Errorf("issue %s for the existing %s: %w", p.cert, p.key, err)
		}
		pub = existing.Public()
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if _, isRSA := pub.(*rsa.PublicKey); isRSA {
		// RSA key exchange in TLS 1.2 encrypts with the certificate's key.
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{p.usage}
	der, err := g.sign(&tmpl, g.caCert, pub, g.caKey)
	if err != nil {
		return fmt.Errorf("generate %s: %w", p.cert, err)
	}
	if newKey {
		if err := g.writeKey(p.key, key); err != nil {
			return err
		}
	}
	return g.write(p.cert, "CERTIFICATE", der, 0o644)
}

// sign fills in serial and validity and signs tmpl with parent (nil: self-signed). A
// certificate never outlives its issuer, which Check would report as expired anyway.
func (g *generator) sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = g.now.Add(-clockSkew)
	tmpl.NotAfter = g.now.Add(g.validity)
	if parent == nil {
		parent = tmpl
	} else if tmpl.NotAfter.After(parent.NotAfter) {
		tmpl.NotAfter = parent.NotAfter
	}
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
}

func (g *generator) writeKey(name string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return g.write(name, "PRIVATE KEY", der, 0o600)
}

// write stores one PEM block, refusing to replace a file that appeared since Plan looked.
func (g *generator) write(name, typ string, der []byte, perm os.FileMode) error {
	path := filepath.Join(g.dir, name)
	if _, err := os.Lstat(path); !notFound(err) {
		if err == nil {
			err = errors.New("file appeared while generating")
		}
		return fmt.Errorf("write %s: %w: not overwriting it; run the command again", path, err)
	}
	if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), perm); err != nil {
		return err
	}
	g.created = append(g.created, name)
	return nil
}

// removeOrphanKeys deletes keys this run created whose certificate it did not write, so a
// failed run does not leave rootCA.key alone (which Plan refuses to complete).
func (g *generator) removeOrphanKeys() {
	wrote := map[string]bool{}
	for _, name := range g.created {
		wrote[name] = true
	}
	pairs := append([]leafPair{{cert: RootCACert, key: RootCAKey}}, leafPairs...)
	kept := g.created[:0]
	for _, name := range g.created {
		orphan := false
		for _, p := range pairs {
			if name == p.key && !wrote[p.cert] {
				orphan = true
			}
		}
		if orphan && os.Remove(filepath.Join(g.dir, name)) == nil {
			continue
		}
		kept = append(kept, name)
	}
	g.created = kept
}

// readPrivateKey returns the first private key in a PEM file.
func readPrivateKey(path string) (publicKeyer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	c, err := parsePEM(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if len(c.keys) == 0 {
		if c.encrypted > 0 {
			return nil, fmt.Errorf("parse %s: the private key is encrypted: store it unencrypted", path)
		}
		return nil, fmt.Errorf("parse %s: no private key PEM block found", path)
	}
	return c.keys[0], nil
}
