package cti

import (
	"fmt"
	"strings"
	"time"

	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/telephony"
)

// Auto-answer headers added to an originate towards a SIP agent device whose
// calls.devices entry sets auto_answer: most desk phones and softphones answer
// at once on either (Call-Info answer-after=0, or Alert-Info auto-answer).
const (
	autoAnswerCallInfo  = "<uri>;answer-after=0"
	autoAnswerAlertInfo = "auto-answer"
)

// deviceOriginate is the originate of an agent's SIP device (calls.devices) for
// the call's agent leg or a consultation leg; role is the Stasis argument the leg
// enters with ("agent" or "consult").
func (a *callActor) deviceOriginate(agent, device, channelID, role string) telephony.OriginateParams {
	p := telephony.OriginateParams{
		Endpoint: device, ChannelID: channelID, AppArgs: []string{role, a.id},
		CallerID: fmt.Sprintf("%q <%s>", a.caller.Name, a.caller.Number),
		Timeout:  int(a.o.cfg.AgentAnswerTimeout / time.Second),
	}
	if a.o.cfg.autoAnswer(agent) {
		p.Variables = map[string]string{
			"PJSIP_HEADER(add,Call-Info)":  autoAnswerCallInfo,
			"PJSIP_HEADER(add,Alert-Info)": autoAnswerAlertInfo,
		}
	}
	return p
}

func (c Config) autoAnswer(agent string) bool {
	for _, d := range c.Devices {
		if d.Agent == agent {
			return d.AutoAnswer
		}
	}
	return false
}

// isPJSIP says whether a device is a PJSIP endpoint (auto-answer headers are
// PJSIP_HEADER writes).
func isPJSIP(device string) bool {
	return strings.HasPrefix(strings.ToUpper(device), "PJSIP/")
}

// applyConsult routes an engine decision about a consultation's engine call
// ("<call id>-consult-<n>") to its call; it reports whether d was one.
func (o *Orchestrator) applyConsult(d queue.Decision) bool {
	callID := publicCallID(string(d.Call))
	if d.Call == "" || callID == string(d.Call) {
		return false
	}
	switch d.Kind {
	case queue.DecOfferCall, queue.DecOverflow, queue.DecClosedAction:
		o.tell(queue.CallID(callID), consultDecision{d: d})
	case queue.DecWithdrawOffer:
		o.publish(string(d.Agent), "call.withdrawn", map[string]any{"call_id": callID, "reason": d.Reason})
		o.tell(queue.CallID(callID), consultDecision{d: d})
	default:
		return false // agent state, wrap-up: as for any call
	}
	return true
}
