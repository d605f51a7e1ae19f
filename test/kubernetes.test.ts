import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { SHUTDOWN_GRACE_MS } from '../src/cli/commands/serve.js';
import { fromRoot } from '../src/util/paths.js';
import { envOf, stage } from './helpers/dockerfile.js';

/**
 * deploy/kubernetes/: every manifest validated against the Kubernetes API's OpenAPI schema (the
 * validators kubernetes-models generates from it), then checked against what the image and the
 * server actually do (port, probes' routes, user, shutdown time, where the model and index are).
 */

const DIR = fromRoot('deploy', 'kubernetes');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec: any; [key: string]: any };

function load(file: string): Manifest[] {
  const docs = parseAllDocuments(readFileSync(path.join(DIR, file), 'utf8'));
  return docs.map((doc) => {
    assert.deepEqual(doc.errors.map((e) => e.message), [], `${file}: YAML`);
    return doc.toJS() as Manifest;
  });
}

const MANIFESTS = FILES.flatMap((file) => load(file).map((m) => ({ file, m })));
const one = (kind: string): Manifest => {
  const found = MANIFESTS.filter(({ m }) => m.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0].m;
};

/** kubernetes-models' class for an apiVersion and kind ('apps/v1' + 'Deployment' -> kubernetes-models/apps/v1/Deployment). */
async function schemaCheck(m: Manifest): Promise<void> {
  const module = (await import(`kubernetes-models/${m.apiVersion}/${m.kind}`)) as Record<string, new (data: unknown) => { validate(): void }>;
  new module[m.kind](m).validate();
}

test('every manifest validates against the Kubernetes API schema; kustomization lists them all', async () => {
  const kinds = MANIFESTS.map(({ m }) => m.kind).sort();
  assert.deepEqual(kinds, ['Deployment', 'HorizontalPodAutoscaler', 'Kustomization', 'PodDisruptionBudget', 'Service']);
  for (const { file, m } of MANIFESTS.filter(({ m }) => m.kind !== 'Kustomization')) {
    await assert.doesNotReject(schemaCheck(m), `${file}: ${m.kind}`);
  }
  const kustomization = one('Kustomization');
  assert.deepEqual([...kustomization.resources].sort(), FILES.filter((f) => f !== 'kustomization.yaml'));
  // The checker is live: a wrong type and a missing required field are refused.
  const deployment = structuredClone(one('Deployment'));
  deployment.spec.replicas = 'two';
  await assert.rejects(schemaCheck(deployment), /spec\/replicas must be integer/);
  const service = structuredClone(one('Service'));
  delete service.spec.ports[0].port;
  await assert.rejects(schemaCheck(service), /spec\/ports\/0 must have required property port/);
});

test('the Deployment runs the serve image as built: its port, probes on routes the server has, its non-root user', () => {
  const deployment = one('Deployment');
  const pod = deployment.spec.template.spec;
  const [server] = pod.containers;
  const image = envOf('serve-cpu');
  const env = new Map<string, string>(server.env.map((e: { name: string; value: string }) => [e.name, e.value]));
  const http = server.ports.find((p: { name: string }) => p.name === 'http');
  assert.equal(String(http.containerPort), image.get('PORT'));
  assert.equal(env.get('PORT'), image.get('PORT'));
  assert.equal(env.get('HOST'), '0.0.0.0');

  const routes = readFileSync(fromRoot('src', 'server', 'routes', 'status.ts'), 'utf8');
  for (const [probe, route] of [['readinessProbe', '/readyz'], ['livenessProbe', '/healthz'], ['startupProbe', '/healthz']]) {
    assert.deepEqual(server[probe].httpGet, { path: route, port: 'http' }, probe);
    assert.match(routes, new RegExp(`app\\.get\\('${route}'`), `the server answers ${route}`);
  }
  // The slowest start the startup probe allows is well above a measured start (~12 s on 2 busy cores).
  assert.ok(server.startupProbe.periodSeconds * server.startupProbe.failureThreshold >= 60);

  const user = stage('serve-cpu').instructions.filter((i) => i.keyword === 'USER').at(-1)!.args;
  const [uid, gid] = user.split(':').map(Number);
  assert.deepEqual([pod.securityContext.runAsNonRoot, pod.securityContext.runAsUser, pod.securityContext.runAsGroup], [true, uid, gid]);
  for (const c of [...pod.initContainers, ...pod.containers]) {
    assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true, c.name);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'], c.name);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, `${c.name}: resources`);
  }
  assert.ok(deployment.spec.replicas >= 2);
  // onnxruntime's threads follow the CPU request, not the node's core count.
  assert.equal(env.get('THREADS'), String(server.resources.requests.cpu));
});

test('graceful termination: preStop, then the server\'s own grace for requests in flight, fit in the pod\'s', () => {
  const pod = one('Deployment').spec.template.spec;
  const [server] = pod.containers;
  const preStop = server.lifecycle.preStop.exec.command as string[];
  assert.equal(preStop[0], 'sleep');
  const needed = Number(preStop[1]) + SHUTDOWN_GRACE_MS / 1000;
  assert.ok(pod.terminationGracePeriodSeconds > needed, `${pod.terminationGracePeriodSeconds} s > ${needed} s`);
  assert.deepEqual(one('Deployment').spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
});

test('the model and index are read-only volumes the init container fills from the image', () => {
  const pod = one('Deployment').spec.template.spec;
  const [server] = pod.containers;
  const [init] = pod.initContainers;
  const env = new Map<string, string>(server.env.map((e: { name: string; value: string }) => [e.name, e.value]));
  const workdir = stage('serve-cpu').instructions.filter((i) => i.keyword === 'WORKDIR').at(-1)!.args;
  const image = envOf('serve-cpu');
  assert.equal(init.image, server.image, 'the server image supplies its demo');
  const command = init.command.join(' ');
  for (const [variable, imageDir] of [['MODEL_DIR', image.get('MODEL_DIR')!], ['INDEX_DIR', image.get('INDEX_DIR')!]]) {
    const dir = env.get(variable)!;
    const mount = server.volumeMounts.find((v: { mountPath: string }) => v.mountPath === dir);
    assert.ok(mount, `${variable}=${dir} is a mount`);
    assert.equal(mount.readOnly, true, `${dir} read-only to the server`);
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    assert.ok(volume.emptyDir, `${mount.name}: filled at pod start`);
    const initMount = init.volumeMounts.find((v: { name: string }) => v.name === mount.name);
    assert.ok(initMount && !initMount.readOnly, `the init container writes ${mount.name}`);
    assert.ok(command.includes(`cp -R ${workdir}/${imageDir}/. ${initMount.mountPath}/`), `the init container copies ${workdir}/${imageDir}`);
  }
  assert.ok(server.volumeMounts.some((v: { mountPath: string }) => v.mountPath === '/tmp'), 'a writable /tmp under a read-only root');
});

test('Service, HorizontalPodAutoscaler and PodDisruptionBudget select the Deployment\'s pods', () => {
  const deployment = one('Deployment');
  const labels = deployment.spec.template.metadata.labels as Record<string, string>;
  const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  assert.ok(selects(deployment.spec.selector.matchLabels), 'the Deployment\'s own selector');
  const service = one('Service');
  assert.ok(selects(service.spec.selector));
  assert.equal(service.spec.ports[0].targetPort, 'http');
  const hpa = one('HorizontalPodAutoscaler');
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: deployment.apiVersion, kind: 'Deployment', name: deployment.metadata.name });
  assert.equal(hpa.spec.minReplicas, deployment.spec.replicas);
  assert.ok(hpa.spec.maxReplicas > hpa.spec.minReplicas);
  assert.equal(hpa.spec.metrics[0].resource.name, 'cpu', 'CPU utilisation, relative to the container\'s CPU request');
  const pdb = one('PodDisruptionBudget');
  assert.ok(selects(pdb.spec.selector.matchLabels));
  assert.ok(pdb.spec.minAvailable < deployment.spec.replicas, 'a drain can still proceed');
});
