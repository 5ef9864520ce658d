package cti

import (
	"context"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/telephony"
)

// Telephony is what the orchestrator needs of the ARI adapter (*telephony.Client).
type Telephony interface {
	Events() <-chan telephony.Event
	Answer(ctx context.Context, id string) error
	Ring(ctx context.Context, id string) error
	Hangup(ctx context.Context, id, reason string) error
	Continue(ctx context.Context, id, dialContext, extension string, priority int) error
	StartMOH(ctx context.Context, id, class string) error
	StopMOH(ctx context.Context, id string) error
	GetVar(ctx context.Context, id, name string) (string, error)
	SetVar(ctx context.Context, id, name, value string) error
	Mute(ctx context.Context, id, direction string) error
	Unmute(ctx context.Context, id, direction string) error
	SendDTMF(ctx context.Context, id, digits string) error
	CreateBridge(ctx context.Context, id, typ, name string) (*ari.BridgeData, error)
	DestroyBridge(ctx context.Context, id string) error
	AddChannel(ctx context.Context, bridgeID string, channelIDs ...string) error
	Snoop(ctx context.Context, channelID string, p telephony.SnoopParams) (*ari.ChannelData, error)
	Play(ctx context.Context, t telephony.PlayTarget, playbackID string, media ...string) (*ari.PlaybackData, error)
	StopPlayback(ctx context.Context, playbackID string) error
	ExternalMedia(ctx context.Context, p telephony.ExternalMediaParams) (*ari.ChannelData, error)
	Originate(ctx context.Context, p telephony.OriginateParams) (*ari.ChannelData, error)
	// SubscribeEvents / UnsubscribeEvents: an event type outside the default filter,
	// while a feature needs it (ChannelVarset: campaigns' AMDSTATUS).
	SubscribeEvents(ctx context.Context, typ string) error
	UnsubscribeEvents(ctx context.Context, typ string) error
}

// Media gives an agent's browser softphone an RTP address for one call: Asterisk's
// ExternalMedia leg sends the call's audio there (the softphone gateway relays it to
// the agent's WebRTC track and the microphone back).
type Media interface {
	AttachCall(ctx context.Context, agent, callID string) (externalHost string, err error)
	// SetRemote tells where Asterisk sends the leg's RTP from (the ExternalMedia
	// channel's UNICASTRTP_LOCAL_ADDRESS:PORT), so the agent's microphone can flow
	// before Asterisk has sent anything.
	SetRemote(agent, callID, addr string) error
	DetachCall(ctx context.Context, agent, callID string) error
}

// Records is where interactions are written (*store.Store). Queued writes must not
// block; SaveDurable returns once the record is committed.
type Records interface {
	SaveInteraction(store.Interaction) error
	AppendSegment(store.Segment) error
	CloseInteraction(store.InteractionClose) error
	SaveDurable(ctx context.Context, rec store.Record) error
	Interaction(ctx context.Context, id string) (store.Interaction, error)
	InteractionsByNumber(ctx context.Context, number string, limit int) ([]store.Interaction, error)
}

// Notifier delivers events to desktops (the desktop hub). Publish never blocks.
type Notifier interface {
	Publish(user, event string, fields map[string]any)
}
