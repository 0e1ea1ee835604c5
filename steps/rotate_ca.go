package steps

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// rotateCAType is the rotate-ca step.
var rotateCAType = Typed(Type{
	Name:    "rotate-ca",
	Cluster: OwnClusterOnly("a CA rotation cannot be put back: the old root's key stays inside Consul, and every sidecar gets new leaves"),
	Summary: "rotates the Connect CA root: a new private key for Consul's built-in CA provider, which makes a new active root " +
		"at once while the old one stays trusted; sidecars get leaves from the new root after Consul's 0-30 s jitter",
	Example: `- rotate-ca: {}`,
	Timeout: 30 * time.Second,
}, buildRotateCA)

// RotateCASpec is the value of a rotate-ca step: no options.
type RotateCASpec struct{ spec.NullMeansEmpty }

type rotateCA struct{}

func buildRotateCA(d *spec.Decoder, _ *RotateCASpec, f *spec.Fields) Step {
	d.NeedAgent(f.At(), "rotate-ca")
	return rotateCA{}
}

func (rotateCA) String() string { return "new Connect CA root" }

func (r rotateCA) Change() Change { return Change{Kind: ChangeCA, What: r.String()} }

func (rotateCA) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	q := (&api.QueryOptions{}).WithContext(ctx)
	before, _, err := client.Connect().CARoots(q)
	if err != nil {
		return WithLogs(fmt.Errorf("reading the CA roots: %w", err), spec.AgentName)
	}
	conf, _, err := client.Connect().CAGetConfig(q)
	if err != nil {
		return WithLogs(fmt.Errorf("reading the CA configuration: %w", err), spec.AgentName)
	}
	if conf.Provider != "consul" {
		return fmt.Errorf("rotate-ca rotates Consul's built-in CA provider; this agent uses %q", conf.Provider)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if conf.Config == nil {
		conf.Config = map[string]any{}
	}
	conf.Config["PrivateKey"] = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	// A new key and no root certificate: Consul makes a new root from it.
	delete(conf.Config, "RootCert")
	if _, err := client.Connect().CASetConfig(conf, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return WithLogs(fmt.Errorf("setting the new CA configuration: %w", err), spec.AgentName)
	}
	after, _, err := client.Connect().CARoots(q)
	if err != nil {
		return WithLogs(fmt.Errorf("reading the CA roots: %w", err), spec.AgentName)
	}
	if after.ActiveRootID == before.ActiveRootID {
		return fmt.Errorf("the active root is still %s after the new configuration", before.ActiveRootID)
	}
	env.Notef("active root %s -> %s (%d roots trusted)", short(before.ActiveRootID), short(after.ActiveRootID), len(after.Roots))
	return nil
}

func short(id string) string {
	if len(id) > 17 {
		return id[:17] + "..."
	}
	return id
}
