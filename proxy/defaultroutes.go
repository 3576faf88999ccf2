package proxy

import (
	"strings"
)

// defaultRoutes is Paperclip's current sandbox-callback allowlist: the
// 51 rules of mid-2026 with the later additions (reference §6.1), 68 in
// all. The interactions verb rule is the widened later form. A --routes
// file replaces this list entirely.
const defaultRoutes = `
GET    ^/api/agents/me$
GET    ^/api/agents/me/inbox-lite$
GET    ^/api/agents/me/inbox/mine$
GET    ^/api/agents/[^/]+$
GET    ^/api/agents/[^/]+/skills$
POST   ^/api/agents/[^/]+/skills/sync$
PATCH  ^/api/agents/[^/]+/instructions-path$
GET    ^/api/companies/[^/]+$
GET    ^/api/companies/[^/]+/dashboard$
GET    ^/api/companies/[^/]+/agents$
GET    ^/api/companies/[^/]+/issues$
GET    ^/api/companies/[^/]+/projects$
GET    ^/api/companies/[^/]+/goals$
GET    ^/api/companies/[^/]+/org$
GET    ^/api/companies/[^/]+/approvals$
GET    ^/api/companies/[^/]+/routines$
GET    ^/api/companies/[^/]+/skills$
GET    ^/api/projects/[^/]+$
GET    ^/api/goals/[^/]+$
GET    ^/api/issues/[^/]+$
GET    ^/api/issues/[^/]+/heartbeat-context$
GET    ^/api/issues/[^/]+/comments(?:/[^/]+)?$
POST   ^/api/issues/[^/]+/comments$
GET    ^/api/issues/[^/]+/documents(?:/[^/]+)?$
GET    ^/api/issues/[^/]+/documents/[^/]+/revisions$
PUT    ^/api/issues/[^/]+/documents/[^/]+$
POST   ^/api/issues/[^/]+/checkout$
POST   ^/api/issues/[^/]+/release$
PATCH  ^/api/issues/[^/]+$
GET    ^/api/issues/[^/]+/approvals$
GET    ^/api/issues/[^/]+/interactions(?:/[^/]+)?$
POST   ^/api/issues/[^/]+/interactions$
POST   ^/api/issues/[^/]+/interactions/[^/]+/(?:accept|reject|respond|verdicts|withdraw)$
POST   ^/api/companies/[^/]+/issues$
GET    ^/api/approvals/[^/]+$
GET    ^/api/approvals/[^/]+/issues$
GET    ^/api/approvals/[^/]+/comments$
POST   ^/api/approvals/[^/]+/comments$
POST   ^/api/companies/[^/]+/approvals$
GET    ^/api/execution-workspaces/[^/]+$
POST   ^/api/execution-workspaces/[^/]+/runtime-services/(?:start|stop|restart)$
GET    ^/api/routines/[^/]+$
GET    ^/api/routines/[^/]+/runs$
POST   ^/api/companies/[^/]+/routines$
PATCH  ^/api/routines/[^/]+$
POST   ^/api/routines/[^/]+/run$
POST   ^/api/routines/[^/]+/triggers$
PATCH  ^/api/routine-triggers/[^/]+$
DELETE ^/api/routine-triggers/[^/]+$
GET    ^/api/issues/[^/]+/attachments$
GET    ^/api/attachments/[^/]+/content$
POST   ^/runtime-tools/github/credentials$
POST   ^/api/companies/[^/]+/agent-commentary$
GET    ^/api/openapi\.json$
GET    ^/api/companies/[^/]+/email/inboxes$
GET    ^/api/companies/[^/]+/email/tasks/[^/]+$
GET    ^/api/companies/[^/]+/email/deliveries/[^/]+$
POST   ^/api/companies/[^/]+/email/send$
POST   ^/api/companies/[^/]+/issues/[^/]+/attachments$
GET    ^/api/issues/[^/]+/work-products$
POST   ^/api/issues/[^/]+/work-products$
PATCH  ^/api/work-products/[^/]+$
GET    ^/llms/agent-configuration\.txt$
GET    ^/llms/agent-configuration/[^/]+\.txt$
GET    ^/llms/agent-icons\.txt$
GET    ^/api/companies/[^/]+/agent-configurations$
POST   ^/api/companies/[^/]+/agent-hires$
POST   ^/api/issues/[^/]+/approvals$
`

// DefaultRules returns the built-in allowlist.
func DefaultRules() []Rule {
	rules, err := ParseRoutes(strings.NewReader(defaultRoutes))
	if err != nil {
		panic("proxy: built-in routes do not parse: " + err.Error())
	}
	return rules
}
