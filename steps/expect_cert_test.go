package steps

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

const trustDomain = "11111111-2222-3333-4444-555555555555.consul"

func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func newLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, spiffe string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u, _ := url.Parse(spiffe)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{u}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func TestVerifyServiceCert(t *testing.T) {
	ca, caKey, caPEM := newCA(t, "Consul CA")
	other, otherKey, _ := newCA(t, "Someone else")
	roots := &api.CARootList{TrustDomain: trustDomain, Roots: []*api.CARoot{{Name: "Consul CA", Active: true, RootCertPEM: caPEM}}}
	good, _ := newLeaf(t, ca, caKey, "spiffe://"+trustDomain+"/ns/default/dc/dc1/svc/socat")
	if err := VerifyServiceCert([]*x509.Certificate{good}, roots, "socat"); err != nil {
		t.Errorf("a good certificate: %v", err)
	}
	for name, c := range map[string]struct {
		leaf    *x509.Certificate
		service string
		want    string
	}{
		"another service":      {good, "web", "not spiffe://" + trustDomain + "/.../svc/web"},
		"another trust domain": {must(newLeaf(t, ca, caKey, "spiffe://elsewhere.consul/ns/default/dc/dc1/svc/socat")), "socat", "names spiffe://elsewhere.consul"},
		"another CA":           {must(newLeaf(t, other, otherKey, "spiffe://"+trustDomain+"/ns/default/dc/dc1/svc/socat")), "socat", "does not chain to the active Connect CA root"},
	} {
		err := VerifyServiceCert([]*x509.Certificate{c.leaf}, roots, c.service)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
	inactive := &api.CARootList{TrustDomain: trustDomain, Roots: []*api.CARoot{{Name: "old", RootCertPEM: caPEM}}}
	if err := VerifyServiceCert([]*x509.Certificate{good}, inactive, "socat"); err == nil {
		t.Error("accepted a chain with no active root")
	}
}

func must(c *x509.Certificate, _ *ecdsa.PrivateKey) *x509.Certificate { return c }

func TestPlaintextRefused(t *testing.T) {
	// A plaintext echo service gives application bytes back: that fails.
	if err := plaintextRefused(context.Background(), echoServer(t)); err == nil || !strings.Contains(err.Error(), "application bytes") {
		t.Errorf("plaintext echo: %v", err)
	}
	// A TLS server answers plaintext with at most an alert: that passes.
	ca, caKey, _ := newCA(t, "CA")
	leaf, key := newLeaf(t, ca, caKey, "spiffe://"+trustDomain+"/ns/default/dc/dc1/svc/x")
	addr := acceptEach(t, tls.NewListener(listenLocal(t), &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}}),
		func(_ int, c net.Conn) { _ = c.(*tls.Conn).Handshake(); c.Close() })
	if err := plaintextRefused(context.Background(), addr); err != nil {
		t.Errorf("TLS server: %v", err)
	}
	chain, err := PresentedChain(context.Background(), addr)
	if err != nil || len(chain) != 1 || chain[0].URIs[0].Path != "/ns/default/dc/dc1/svc/x" {
		t.Errorf("presented chain: %v %v", chain, err)
	}
}
