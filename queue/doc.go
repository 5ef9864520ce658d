// Package queue is ctid's ACD engine: agents and their state machine, queues,
// strategies, skills, priorities, wrap-up, business hours, overflow, keep-your-place
// callbacks, position / estimated-wait announcements, outbound blending hooks and the
// arithmetic behind KPIs (service level formulas, Erlang C).
//
// It is pure: it does no I/O, never reads the wall clock and starts no goroutines
// except Loop.Run. Every method takes the current time and returns decisions, so
// every behaviour is testable with literal times.
//
// # Building
//
//	e, err := queue.NewEngine(queue.Config{Agents: ..., Queues: ...}) // validates, applies defaults
//	l := queue.NewLoop(e)                                                // one goroutine owns e
//	go l.Run(ctx)                                                        // stops when ctx is cancelled
//
// Use the Loop from any goroutine (its methods copy the decisions), or use the
// *Engine directly from a single goroutine (its returned slice is reused by the next
// call). Loop.Do(ctx, func(*Engine) ([]Decision, error)) runs any engine method.
//
// # Inputs (all take now time.Time first; errors wrap the sentinels in errors.go)
//
//	AgentLogin / AgentReady / AgentNotReady(reason) / AgentLogout
//	CallArrived(Call{ID, Queue, Priority 1..10 (0 = default 5, higher first), Skills expr})
//	CallAbandoned(call)            caller left before being connected
//	OfferAccepted(call, agent)     desktop answered (or a callback / dialer call connected)
//	OfferRejected(call, agent)     agent declined → NotReady("rejected")
//	OfferTimedOut(call, agent)     ring-no-answer seen by the orchestrator → NotReady("missed")
//	CallHeld / CallUnheld(call)
//	CallEnded(call)                connected call hung up → WrapUp (not connected: abandon)
//	WrapUpDone(agent)              wrapup.done; AgentReady during wrap-up also ends it
//	RequestCallback(call, number)  caller pressed 1: keep-your-place callback
//	CallbackFailed(call)           the callback originate did not connect
//	CancelCallback(call)           drop a waiting / parked callback
//	RestoreConnected / RestoreHeld / RestoreOutbound   calls kept up by the PBX over a restart
//	RestoreCallback(Call, number, failed, lastFailed)  a kept callback back at its place after a restart
//	DialerReserve(call, agent) / DialerRelease(call)   outbound blending
//	Tick(now)                      fires due timers; NextTimer() says when the next one is due
//	UpsertQueue(QueueConfig) / RemoveQueue / UpsertAgent(AgentConfig) / RemoveAgent
//
// Read-only: Snapshot(now), QueueStats(now, queue), Queues(), EstimatedWait(queue),
// AgentsFree(campaign), AgentsLikelyFree(now, campaign, within).
//
// Blending: inbound calls take precedence, because a Ready agent is offered any
// waiting call that fits before the dialer sees them as free. A queue that should
// leave its campaign agents to the dialer says so by putting them on a tier above its
// TierLimit, optionally with a RelaxStep that widens the tier after a wait (see
// TestQueueCanLeaveCampaignAgentsToTheDialer).
//
// # Decisions
//
// A Decision is a flat value (no interface boxing, so the hot path is allocation-free);
// Kind says which fields apply and AsOfferCall / AsWithdrawOffer / AsAnnounce /
// AsOverflow / AsOriginateCallback give typed views:
//
//	DecOfferCall{Call, Agent, Queue, Deadline}   ring the desktop (screen-pop)
//	DecWithdrawOffer{Call, Agent, Reason}        stop ringing (answered-elsewhere, abandoned, timeout, rejected, agent-paused)
//	DecAnnounce{Call, Position, EWT}             play position / EWT (EWT -1: unknown)
//	DecOverflow{Call, Queue, Target, Reason}     max-wait / full / empty; TargetQueue is applied inside the engine
//	DecClosedAction{Call, Queue, Target}         outside business hours or on a holiday
//	DecOfferCallback{Call}                       ask the caller if they want a callback
//	DecOriginateCallback{Call, Number, Agent}    dial the callback for this (reserved) agent
//	DecAgentState{Agent, State, Reason}          every agent state change
//	DecWrapUpStarted{Call, Agent, Deadline}      zero Deadline: wrap-up until wrapup.done
//	DecCallbackDropped{Call, Number}             retries exhausted
//
// # Agent state machine
//
// One state per agent across all queues: LoggedOut → NotReady(reason) ⇄ Ready →
// Reserved → Talking ⇄ OnHold → WrapUp → Ready, or NotReady / LoggedOut when the agent
// asked to pause / log out during the call (pending). Ring-no-answer → NotReady("missed")
// and the call goes back to its place (its priority/arrival key is kept, so it is ahead
// of everyone who came later). Illegal inputs return *TransitionError (ErrInvalidTransition).
//
// # Routing
//
// Each queue has classes: one per distinct (skill expression, relax stage, tier limit).
// A class holds a heap of waiting calls (priority, then arrival; with AgeEvery a static
// "virtual arrival" = arrival − priority × AgeEvery) and a heap of ready eligible
// agents keyed by the queue's strategy (tier first, then longest idle / fewest calls /
// least talk time / member order / seeded random / best skill score). An agent that
// becomes ready compares the heads of the classes of its queues (queue Weight first);
// an arriving call takes the head of its class's ready heap. Ring-all offers to every
// agent in the class heap; the first OfferAccepted wins and the others get
// DecWithdrawOffer (a later accept by them is ErrOfferWithdrawn). Round-robin scans the
// class heap (O(ready agents in the class)).
//
// Skill expressions: `lang:pl>=3 & (product:internet | !vip)`; see ParseSkillExpr.
// Errors are *ParseError with the byte position. Relax steps drop skills (by name or
// "prefix" before ':') and/or raise the tier limit after a wait.
//
// EWT = position × rolling AHT (talk + wrap of the last Config.AHTWindow calls, default
// Config.DefaultAHT) / agents serving the queue (logged in and not paused).
package queue
