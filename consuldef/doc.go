// Package consuldef reads Consul's definition files as Consul reads them:
// service definitions and agent config files in HCL or JSON, `service` or
// `services`, keys in any spelling the agent accepts, every problem at its
// file:line:col and key path (DefinitionError), the services in the API's
// registration type (ServiceDef). consul_config.go mirrors the decoder of
// Consul's agent/config; when a consul binary is at hand (a ConsulJudge),
// its JudgeServiceFile and JudgeAgentConfig ask its `consul validate` for the
// last word, each verdict kept in memory and on disk.
//
// It knows nothing of the scenario format (it shares only "did you mean",
// package suggest): the scenario's validation (package spec's book of
// registered instances) and the register and start-agent steps build on
// it, and bench reads the demo's definitions with ParseServiceDefinition.
package consuldef
