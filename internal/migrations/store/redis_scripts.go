package store

import "github.com/redis/go-redis/v9"

// Result codes of the Lua scripts besides 1 (written) and 0 (a stale execution id: nothing
// written).
const (
	codeNoMigration = -1 // the migration hash does not exist
	codeNoCandidate = -2 // the candidate has no status
	codeNoRun       = -3 // the candidate has no run record
	codeChanged     = 2  // what the caller read changed before the script ran: read again
)

// Run-hash fields; step states live in fields named runStepField + step name.
const (
	runFieldRunID       = "runId"
	runFieldExecutionID = "executionId"
	runFieldStatus      = "status"
	runFieldStepNames   = "stepNames"
	runFieldStartedAt   = "startedAt"
	runFieldFinishedAt  = "finishedAt"
	runFieldStepName    = "stepName"     // the run summary's step: the latest one written,
	runFieldStepStatus  = "stepStatus"   // its status,
	runFieldAttention   = "attention"    // and why the run needs an operator ("" when it does not)
	runFieldCancel      = "cancellation" // JSON: how the cancelled run's notice went
	runStepField        = "step:"
)

// Migration-hash fields; the status counters are countField + status.
const (
	migFieldDef       = "def"
	migFieldCreatedAt = "createdAt"
	migFieldUpdatedAt = "updatedAt"
	migFieldVersion   = "version" // grows with every change to the migration or its candidates
	countField        = "count:"
	// migFieldRunSummaries marks a migration whose candidates' run summaries are all kept in its
	// run-summary hash: set when a migration is created, or once the summaries of a migration
	// created before the store kept them have been filled in (see backfillRunSummaries).
	migFieldRunSummaries = "runSummaries"
)

// luaAddHistory is prepended to the scripts that write run history. addHistory(history,
// outcomes, i) reads from ARGV[i] on: the oldest stream id to keep (the retention), the
// retention in milliseconds, then for each event "1" when it is an outcome and its JSON. Each
// event goes to the candidate's history, outcomes also to the migration's; both drop entries
// older than the retention and expire a retention after their last event.
const luaAddHistory = `
local function addHistory(history, outcomes, i)
  local minid, ttl = ARGV[i], ARGV[i + 1]
  local anyOutcome = false
  for j = i + 2, #ARGV, 2 do
    redis.call('XADD', history, 'MINID', minid, '*', 'e', ARGV[j + 1])
    if ARGV[j] == '1' then
      redis.call('XADD', outcomes, 'MINID', minid, '*', 'e', ARGV[j + 1])
      anyOutcome = true
    end
  end
  if #ARGV >= i + 2 then redis.call('PEXPIRE', history, ttl) end
  if anyOutcome then redis.call('PEXPIRE', outcomes, ttl) end
end
`

// luaSetStatus is prepended to the scripts that change a candidate's status: it moves the
// candidate between the per-migration counters in the same atomic step as the status write.
const luaSetStatus = `
local function setStatus(meta, statusKey, updatedKey, id, new, at)
  local old = redis.call('HGET', statusKey, id)
  if old ~= new then
    if old then redis.call('HINCRBY', meta, 'count:' .. old, -1) end
    redis.call('HINCRBY', meta, 'count:' .. new, 1)
    redis.call('HSET', statusKey, id, new)
  end
  redis.call('HSET', updatedKey, id, at)
  redis.call('HINCRBY', meta, 'version', 1)
end
`

// luaWriteSummary is prepended to the scripts that change a run: writeSummary copies the run
// hash's summary fields, as JSON with a fixed field order, into the migration's run-summary hash
// (which lists read whole), and reports whether the summary changed.
const luaWriteSummary = `
local summaryFields = {'status', 'startedAt', 'finishedAt', 'stepName', 'stepStatus', 'attention', 'waitingSince'}
local function writeSummary(run, summaries, id)
  local values = redis.call('HMGET', run, unpack(summaryFields))
  local parts = {}
  for i, name in ipairs(summaryFields) do
    parts[i] = cjson.encode(name) .. ':' .. cjson.encode(values[i] or '')
  end
  local enc = '{' .. table.concat(parts, ',') .. '}'
  if redis.call('HGET', summaries, id) == enc then return false end
  redis.call('HSET', summaries, id, enc)
  return true
end
`

// KEYS: migration hash. ARGV: definition JSON, createdAt, updatedAt.
const luaSaveMigration = `
if redis.call('HSETNX', KEYS[1], 'createdAt', ARGV[2]) == 1 then
  redis.call('HSET', KEYS[1], 'runSummaries', '1')
end
redis.call('HSET', KEYS[1], 'def', ARGV[1], 'updatedAt', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'version', 1)
return 1
`

// KEYS: migration hash, candidate definitions, statuses, updatedAts.
// ARGV: updatedAt for new candidates, then id and definition JSON pairs.
const luaMergeCandidates = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local added = 0
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local st = redis.call('HGET', KEYS[3], id)
  if not st then
    redis.call('HSET', KEYS[2], id, ARGV[i + 1])
    redis.call('HSET', KEYS[3], id, 'not_started')
    redis.call('HSET', KEYS[4], id, ARGV[1])
    added = added + 1
  elseif st == 'not_started' then
    redis.call('HSET', KEYS[2], id, ARGV[i + 1])
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[1], 'count:not_started', added) end
redis.call('HINCRBY', KEYS[1], 'version', 1)
return 1
`

// KEYS: migration hash, statuses, inputs. ARGV: candidate id, then key and value pairs.
// Returns {code, inputs JSON or an empty string}.
const luaMergeInputs = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, ''} end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return {-2, ''} end
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if #ARGV < 3 then return {1, cur or ''} end
local t = {}
if cur then t = cjson.decode(cur) end
for i = 2, #ARGV, 2 do t[ARGV[i]] = ARGV[i + 1] end
local enc = cjson.encode(t)
redis.call('HSET', KEYS[3], ARGV[1], enc)
redis.call('HINCRBY', KEYS[1], 'version', 1)
return {1, enc}
`

// KEYS: migration hash, statuses, updatedAts, run hash, run summaries, inputs, the candidate's
// history, the migration's outcomes.
// ARGV: candidate id, run id, execution id, run status, step names JSON, startedAt, the number
// of input pairs n, then the run's inputs as n key, value pairs (merged into the candidate's),
// then the history arguments (see luaAddHistory).
const luaBeginRun = luaSetStatus + luaWriteSummary + luaAddHistory + `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return -2 end
local n = tonumber(ARGV[7])
if n > 0 then
  local cur = redis.call('HGET', KEYS[6], ARGV[1])
  local t = {}
  if cur then t = cjson.decode(cur) end
  for i = 8, 7 + 2 * n, 2 do t[ARGV[i]] = ARGV[i + 1] end
  redis.call('HSET', KEYS[6], ARGV[1], cjson.encode(t))
end
setStatus(KEYS[1], KEYS[2], KEYS[3], ARGV[1], 'running', ARGV[6])
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[4], 'runId', ARGV[2], 'executionId', ARGV[3], 'status', ARGV[4],
  'stepNames', ARGV[5], 'startedAt', ARGV[6], 'finishedAt', '0')
writeSummary(KEYS[4], KEYS[5], ARGV[1])
addHistory(KEYS[7], KEYS[8], 8 + 2 * n)
return 1
`

// KEYS: run hash, run summaries, migration hash, the candidate's history, the migration's
// outcomes.
// ARGV: execution id, step field, step state JSON, candidate id, step name, step status,
// attention (kept empty once the run has finished), waiting since (Unix ns, or empty), "1" when
// the step had a stored state the caller read, that state, then the history arguments (see
// luaAddHistory). Returns 2, writing nothing, when the stored state is no longer the one read.
const luaPutStepState = luaWriteSummary + luaAddHistory + `
local cur = redis.call('HGET', KEYS[1], 'executionId')
if not cur then return -3 end
if cur ~= ARGV[1] then return 0 end
local stored = redis.call('HGET', KEYS[1], ARGV[2])
if (ARGV[9] == '1' and stored ~= ARGV[10]) or (ARGV[9] ~= '1' and stored) then return 2 end
local attention, since = ARGV[7], ARGV[8]
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then attention, since = '', '' end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3], 'stepName', ARGV[5], 'stepStatus', ARGV[6], 'attention', attention, 'waitingSince', since)
if writeSummary(KEYS[1], KEYS[2], ARGV[4]) and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HINCRBY', KEYS[3], 'version', 1)
end
addHistory(KEYS[4], KEYS[5], 11)
return 1
`

// KEYS: migration hash, statuses, updatedAts, run hash, run summaries, the candidate's history,
// the migration's outcomes.
// ARGV: candidate id, execution id, run status, finishedAt, candidate status, "1" to end only a
// run that is still running (a reconcile), the step the caller read as the run's, then the
// history arguments (see luaAddHistory), added only when the run was running at that step.
// Returns 2, writing nothing, when the run is running at another step.
const luaFinishRun = luaSetStatus + luaWriteSummary + luaAddHistory + `
local cur = redis.call('HGET', KEYS[4], 'executionId')
if not cur then return -3 end
if cur ~= ARGV[2] then return 0 end
local running = redis.call('HGET', KEYS[4], 'status') == 'running'
if ARGV[6] == '1' and not running then return 0 end
if running then
  if (redis.call('HGET', KEYS[4], 'stepName') or '') ~= ARGV[7] then return 2 end
  addHistory(KEYS[6], KEYS[7], 8)
end
redis.call('HSET', KEYS[4], 'status', ARGV[3], 'finishedAt', ARGV[4], 'attention', '', 'waitingSince', '')
local changed = writeSummary(KEYS[4], KEYS[5], ARGV[1])
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  setStatus(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[5], ARGV[4])
elseif changed and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'version', 1)
end
return 1
`

// KEYS: run hash. ARGV: execution id, cancellation JSON.
const luaPutCancellation = `
local cur = redis.call('HGET', KEYS[1], 'executionId')
if not cur then return -3 end
if cur ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'cancellation', ARGV[2])
return 1
`

// KEYS: migration hash, run summaries, then one run hash per candidate.
// ARGV: for each run hash, in order: candidate id, the execution id the summary was derived
// from, step name, step status, attention. A summary is written only where none exists and the
// run is still that execution, so a summary the other scripts wrote meanwhile always wins.
const luaBackfillSummaries = luaWriteSummary + `
local changed = false
for i = 3, #KEYS do
  local a = (i - 3) * 5
  local id = ARGV[a + 1]
  if redis.call('HEXISTS', KEYS[2], id) == 0 and redis.call('HGET', KEYS[i], 'executionId') == ARGV[a + 2] then
    redis.call('HSET', KEYS[i], 'stepName', ARGV[a + 3], 'stepStatus', ARGV[a + 4], 'attention', ARGV[a + 5])
    writeSummary(KEYS[i], KEYS[2], id)
    changed = true
  end
end
if changed and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'version', 1) end
return 1
`

// redisScripts holds the store's check-and-write scripts; each caches its SHA.
type redisScripts struct {
	saveMigration   *redis.Script
	mergeCandidates *redis.Script
	mergeInputs     *redis.Script
	beginRun        *redis.Script
	putStepState    *redis.Script
	finishRun       *redis.Script
	putCancellation *redis.Script
	backfill        *redis.Script
}

func newRedisScripts() redisScripts {
	return redisScripts{
		saveMigration:   redis.NewScript(luaSaveMigration),
		mergeCandidates: redis.NewScript(luaMergeCandidates),
		mergeInputs:     redis.NewScript(luaMergeInputs),
		beginRun:        redis.NewScript(luaBeginRun),
		putStepState:    redis.NewScript(luaPutStepState),
		finishRun:       redis.NewScript(luaFinishRun),
		putCancellation: redis.NewScript(luaPutCancellation),
		backfill:        redis.NewScript(luaBackfillSummaries),
	}
}
