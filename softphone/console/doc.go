// Package console serves the agent console: the web page an agent works in for a
// whole shift, embedded in the ctid binary (go:embed) so that nothing is built and
// nothing loads from the internet.
//
// The page is plain HTML, CSS and JavaScript (static/index.html, console.js,
// console.css, i18n.js). It logs in with POST /api/v1/login, keeps the desktop
// WebSocket open (/api/v1/ws?access_token=..., reconnecting with backoff and
// resuming after the last event it saw), negotiates the browser softphone over that
// socket (rtc.offer / rtc.answer / rtc.candidate) and drives the agent commands
// documented in docs/API.md. Polish and English, the browser's language by default.
//
// AgentHandler serves GET / (the console) and GET /static/... (its assets):
//
//	srv, err := cti.NewServer(cti.ServerParams{..., Pages: console.AgentHandler()})
package console
