package cti

import (
	"context"
	"errors"
	"strings"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ctid/ctid/telephony"
)

// argsVar is the channel variable in which ctid keeps a call's Stasis arguments, so
// that a ctid that restarts can put callers who were waiting back in their queues
// (Asterisk does not re-send StasisStart, and its channel model in ari/v5 has no
// app_data).
const argsVar = "CTID_ARGS"

// adoptLater looks, off the event pump, at the channels the application holds that
// no call of this ctid owns: waiting callers of an earlier run are queued again;
// calls that were already bridged are left alone (logged); orphaned legs of ctid's
// own making are hung up.
func (o *Orchestrator) adoptLater(ctx context.Context, rs *telephony.Resync) {
	bridged := map[string]bool{}
	for _, b := range rs.Bridges {
		for _, id := range b.ChannelIDs {
			bridged[id] = true
		}
	}
	o.mu.Lock()
	var unknown []ari.ChannelData
	for _, ch := range rs.Channels {
		if o.byChannel[ch.ID] == nil {
			unknown = append(unknown, ch)
		}
	}
	o.mu.Unlock()
	if len(unknown) == 0 {
		return
	}
	o.wg.Go(func() {
		for _, ch := range unknown {
			if ctx.Err() != nil {
				return
			}
			o.adopt(ctx, ch, bridged[ch.ID])
		}
	})
}

func (o *Orchestrator) adopt(ctx context.Context, ch ari.ChannelData, bridged bool) {
	log := o.log.With().Str("channel_id", ch.ID).Logger()
	octx, cancel := context.WithTimeout(ctx, o.cfg.OpTimeout)
	defer cancel()
	raw, err := o.ari.GetVar(octx, ch.ID, argsVar)
	switch {
	case errors.Is(err, telephony.ErrNotFound) || (err == nil && raw == ""):
		if isCtidLeg(ch.ID) && !bridged {
			log.Info().Msg("hanging up a leftover leg of an earlier ctid run")
			if herr := o.ari.Hangup(octx, ch.ID, "normal"); herr != nil && !errors.Is(herr, telephony.ErrNotFound) {
				log.Warn().Err(herr).Msg("hang up leftover leg")
			}
		}
		return
	case err != nil:
		log.Warn().Err(err).Msg("cannot tell whether the channel is a waiting caller")
		return
	}
	if bridged {
		log.Warn().Msg("a call connected by an earlier ctid run is left as it is; it ends when either side hangs up")
		return
	}
	in, err := parseInbound(strings.Split(raw, ","))
	if err != nil {
		log.Warn().Err(err).Msg("cannot re-queue the caller of an earlier run; applying fallback")
		o.fallback(ctx, ch.ID, log)
		return
	}
	a := newCallActor(o, ch, in)
	a.adopted = true
	o.mu.Lock()
	if o.byChannel[ch.ID] != nil { // a StasisStart beat us to it
		o.mu.Unlock()
		return
	}
	o.calls[a.id] = a
	o.byChannel[ch.ID] = a
	o.mu.Unlock()
	log.Info().Str("queue", in.queue).Msg("re-queueing a caller who was waiting when ctid last stopped")
	o.wg.Go(func() { a.run(ctx) })
}

// isCtidLeg tells the channels ctid creates with ids of its own making.
func isCtidLeg(id string) bool {
	for _, mark := range []string{"-agent", "-sup-", "-snoop-", "-ext-", "-cb-"} {
		if strings.Contains(id, mark) {
			return true
		}
	}
	return false
}
