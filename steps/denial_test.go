package steps

import (
	"errors"
	"strings"
	"testing"
)

func TestEvidenceAgreesOnlyWhenEveryPieceSaysDenied(t *testing.T) {
	refused := Handshake{Addr: "127.0.0.1:21000", Outcome: RefusedByAuthz, Detail: "refused"}
	up := Backend{Addr: "127.0.0.1:8181", Holder: "pid 1 (socat)"}
	deny := "Matched L4 intention: default/web => default/socat (Precedence: 9, Action: DENY)"
	for name, tc := range map[string]struct {
		ev        Evidence
		want      string // in Denied's error; "" when denied
		wantCause string
	}{
		"denied": {Evidence{Reason: deny, Handshakes: []Handshake{refused}, Backends: []Backend{up}}, "", "denied by " + deny},
		"authorized": {Evidence{Authorized: true, Reason: "Default behavior", Handshakes: []Handshake{{Outcome: Accepted, Detail: "accepted"}}, Backends: []Backend{up}},
			"the mesh authorizes web -> socat (Default behavior)", "not a denial"},
		"backend down": {Evidence{Reason: deny, Handshakes: []Handshake{{Outcome: ClosedBeforeTLS, Detail: "closed"}}, Backends: []Backend{{Addr: "127.0.0.1:8181"}}},
			"the backend of socat (127.0.0.1:8181) is down", "backend down"},
		"one instance accepts": {Evidence{Reason: deny, Handshakes: []Handshake{refused, {Addr: "127.0.0.1:21002", Outcome: Accepted, Detail: "accepted"}}, Backends: []Backend{up, up}},
			"on 127.0.0.1:21002 accepted", "denied by"},
		"no sidecar":    {Evidence{Reason: deny}, "no passing sidecar of socat", "denied by"},
		"authz unknown": {Evidence{AuthzErr: errors.New("403"), Handshakes: []Handshake{refused}, Backends: []Backend{up}}, "could not be read: 403", "unknown"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.ev.Source, tc.ev.Destination = "web", "socat"
			err := tc.ev.Denied()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Denied() = %v; want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Denied() = %v; want it to say %q", err, tc.want)
			}
			if cause := tc.ev.Cause(); !strings.Contains(cause, tc.wantCause) {
				t.Errorf("Cause() = %q; want %q", cause, tc.wantCause)
			}
		})
	}
}
