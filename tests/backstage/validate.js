#!/usr/bin/env node
// Validates Backstage catalog entities with Backstage's own code, @backstage/catalog-model:
// the entity policies the catalog backend enforces on every entity it ingests, then the
// built-in kind validators (the backend's BuiltinKindsEntityProcessor refuses an entity no
// kind validator accepts), then the entity references its relation fields hold.
//
// Input on stdin: a JSON array of entities (as read from the YAML files).
// Output on stdout: a JSON array, one {ref, error} per entity (error null when valid).
// Exit code: 0 when every entity is valid, 1 when any is not, 2 on unreadable input.

'use strict';

const model = require('@backstage/catalog-model');

const policy = model.EntityPolicies.allOf([
  new model.SchemaValidEntityPolicy(),
  new model.DefaultNamespaceEntityPolicy(),
  new model.NoForeignRootFieldsEntityPolicy(),
  new model.FieldFormatEntityPolicy(),
]);

const kindValidators = [
  model.apiEntityV1alpha1Validator,
  model.componentEntityV1alpha1Validator,
  model.resourceEntityV1alpha1Validator,
  model.groupEntityV1alpha1Validator,
  model.locationEntityV1alpha1Validator,
  model.userEntityV1alpha1Validator,
  model.systemEntityV1alpha1Validator,
  model.domainEntityV1alpha1Validator,
];

// Relation fields of the built-in kinds and the kind a bare reference defaults to.
const relationFields = {
  'spec.owner': 'Group',
  'spec.system': 'System',
  'spec.domain': 'Domain',
  'spec.subcomponentOf': 'Component',
  'spec.dependsOn': undefined,
  'spec.dependencyOf': undefined,
  'spec.providesApis': 'API',
  'spec.consumesApis': 'API',
};

function field(entity, path) {
  return path.split('.').reduce((value, key) => (value == null ? undefined : value[key]), entity);
}

async function validate(entity) {
  const enforced = await policy.enforce(entity);
  let accepted = false;
  for (const validator of kindValidators) {
    if (await validator.check(enforced)) {
      accepted = true;
      break;
    }
  }
  if (!accepted) {
    throw new Error(`no built-in kind validator accepts ${enforced.apiVersion} ${enforced.kind}`);
  }
  for (const [path, defaultKind] of Object.entries(relationFields)) {
    const value = field(enforced, path);
    for (const ref of value === undefined ? [] : [].concat(value)) {
      // Throws on a malformed reference, or one whose kind can be neither read nor defaulted.
      model.parseEntityRef(ref, {
        defaultKind,
        defaultNamespace: enforced.metadata.namespace,
      });
    }
  }
  return enforced;
}

async function main() {
  let entities;
  try {
    entities = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    if (!Array.isArray(entities)) throw new Error('expected a JSON array of entities');
  } catch (error) {
    process.stderr.write(`validate.js: ${error.message}\n`);
    return 2;
  }
  const results = [];
  for (const entity of entities) {
    let ref = null;
    try {
      const enforced = await validate(entity);
      ref = model.stringifyEntityRef(enforced);
      results.push({ ref, error: null });
    } catch (error) {
      results.push({ ref, error: String(error && error.message ? error.message : error) });
    }
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  return results.every((r) => r.error === null) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`validate.js: ${error.stack || error}\n`);
    process.exit(2);
  },
);
