#!/usr/bin/env node
// Validates Backstage software templates with the scaffolder's own code: the entity policies
// the catalog backend enforces on every entity, then @backstage/plugin-scaffolder-common's
// templateEntityV1beta3Validator (the Template kind's JSON schema, which the catalog's
// scaffolder entity model module applies when it ingests a template).
//
// Input on stdin: a JSON array of template entities. Output on stdout: a JSON array, one
// {ref, error} per entity (error null when valid). Exit code: 0 all valid, 1 any invalid,
// 2 on unreadable input.

'use strict';

const model = require('@backstage/catalog-model');
const { templateEntityV1beta3Validator } = require('@backstage/plugin-scaffolder-common');

const policy = model.EntityPolicies.allOf([
  new model.SchemaValidEntityPolicy(),
  new model.DefaultNamespaceEntityPolicy(),
  new model.NoForeignRootFieldsEntityPolicy(),
  new model.FieldFormatEntityPolicy(),
]);

async function validate(entity) {
  const enforced = await policy.enforce(entity);
  // check() throws on a Template that breaks the schema, and returns false for another kind.
  if (!(await templateEntityV1beta3Validator.check(enforced))) {
    throw new Error(`not a scaffolder.backstage.io/v1beta3 Template: ${enforced.apiVersion} ${enforced.kind}`);
  }
  return enforced;
}

async function main() {
  let entities;
  try {
    entities = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    if (!Array.isArray(entities)) throw new Error('expected a JSON array of entities');
  } catch (error) {
    process.stderr.write(`validate-template.js: ${error.message}\n`);
    return 2;
  }
  const results = [];
  for (const entity of entities) {
    try {
      results.push({ ref: model.stringifyEntityRef(await validate(entity)), error: null });
    } catch (error) {
      results.push({ ref: null, error: String(error && error.message ? error.message : error) });
    }
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  return results.every((r) => r.error === null) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`validate-template.js: ${error.stack || error}\n`);
    process.exit(2);
  },
);
