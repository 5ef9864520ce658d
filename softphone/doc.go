// Package softphone is the WebRTC audio gateway between Asterisk ExternalMedia RTP and
// the agents' browsers.
//
// Each logged-in agent (or supervisor) has one long-lived Session: a pion peer
// connection negotiated over the desktop WebSocket, audio only, PCMU only (plus
// RFC 4733 telephone-event from the browser), so no transcoding happens anywhere.
// When a call is connected to the agent, ctid attaches a leg:
//
//	gw, err := softphone.NewGateway(cfg, log)            // once
//	s, err := gw.NewSession(softphone.SessionParams{      // per agent login
//		Agent:       "alice",
//		OnAnswer:    func(sdp string) { /* send rtc.answer (ordered before its candidates) */ },
//		OnCandidate: func(c *webrtc.ICECandidateInit) { /* send rtc.candidate (nil: done) */ },
//		OnState:     func(st softphone.State) { /* tell the desktop; Failed: ask for an ICE restart */ },
//		OnDTMF:      func(d softphone.DTMF) { /* POST /channels/{id}/dtmf for d.CallID */ },
//	})
//	_, err = s.Offer(ctx, offerSDP)                       // rtc.offer (also ICE restarts); answer via OnAnswer
//	err = s.AddCandidate(ctx, init)                       // rtc.candidate from the browser
//	leg, err := s.AttachCall(ctx, callID)                 // call connected to the agent
//	// POST /channels/externalMedia?app=ctid&external_host=<leg.LocalAddr>&format=ulaw;
//	// on its StasisStart: s.SetRemote(callID, UNICASTRTP_LOCAL_ADDRESS:PORT), then
//	// add the channel to the call's bridge (earlier gives 422).
//	stats, err := s.DetachCall(ctx, callID)               // call ended
//	err = s.Close()                                       // logout
//
// RTP from the leg's UDP port (the first source address is latched; packets from
// any other address are dropped and counted) is written to the agent's outbound
// track with sequence numbers and timestamps rewritten so the browser sees one
// continuous stream for the whole shift. The agent's microphone is sent, unchanged,
// to the latched Asterisk address of the active leg. Between calls nothing is sent
// to the browser and the microphone is dropped (counted).
//
// A session may hold several legs (a consultation while a call is held); only the
// active one (the last attached, or the one passed to Activate) is relayed. When
// the agent reconnects with a new peer connection, TakeCall moves a live leg, port
// and all, to the new session so the ExternalMedia channel carries on.
//
// Asterisk sends nothing while nobody in the bridge produces audio: after the
// ExternalMedia StasisStart, pass its UNICASTRTP_LOCAL_ADDRESS:UNICASTRTP_LOCAL_PORT
// to SetRemote so the microphone flows at once (whisper, silent callers).
//
// Media paths. On linux one goroutine reads every leg's socket (an epoll reactor).
// With ice_udp_mux (ICEConfig.UDPMux) every agent's ICE/DTLS/SRTP is on one UDP
// socket read with recvmmsg and written with sendmmsg, and established sessions
// take the SRTP fast path (fastpath.go): the microphone's SRTP is decrypted and
// relayed on the socket's reader, the agent's audio is encrypted and queued on the
// socket directly, both with the session's own srtp.Context, skipping pion's
// SRTP session, mux and track plumbing. The keys come from pion's public DTLS key
// log and the handshake seen in clear on the socket (internal/dtlskeys); pion
// keeps its path for the first packets, for RTCP, STUN and DTLS, and takes over
// again if a microphone packet fails authentication. RTCP sender reports come from
// the gateway's own once-a-second loop, which counts both paths. Optionally
// (MediaSharedAddr) every leg is on one socket too, Asterisk's channels told apart
// by the source address given to SetRemote.
//
// Callbacks (OnAnswer, OnCandidate, OnState, OnDTMF) run in order on one goroutine
// per session, outside every lock, so they may call back into the Session.
//
// Counters: Leg.Stats, Gateway.Stats, and NewCollector for Prometheus.
package softphone
