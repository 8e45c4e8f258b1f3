//! deploy/kubernetes/: the StatefulSet's pods, each taking its shard index
//! from its ordinal, give every domain of the ConfigMap to exactly one
//! replica. Reads the manifests themselves, so a changed replica count or
//! domain list is checked as shipped.

use mtasts_exporter::config::Config;
use mtasts_exporter::shard_env;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn manifest(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("read manifest");
    serde_yaml::from_str(&text).expect("one YAML document")
}

fn get<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |v, key| &v[*key])
}

/// The exporter container's environment variable `name`.
fn env_var<'a>(statefulset: &'a Value, name: &str) -> &'a Value {
    let containers = get(statefulset, &["spec", "template", "spec", "containers"]);
    let container = &containers.as_sequence().expect("containers")[0];
    container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no env {name}"))
}

#[test]
fn pod_ordinals_shard_every_domain_to_exactly_one_replica() {
    let statefulset = manifest("statefulset.yaml");
    let replicas = get(&statefulset, &["spec", "replicas"])
        .as_u64()
        .expect("replicas") as u32;
    assert!(replicas > 1, "sharding needs replicas");

    // The index comes from the pod's ordinal, the count is the replica count.
    let index = env_var(&statefulset, shard_env::INDEX_VAR);
    assert_eq!(
        get(index, &["valueFrom", "fieldRef", "fieldPath"]).as_str(),
        Some("metadata.labels['apps.kubernetes.io/pod-index']")
    );
    let count = env_var(&statefulset, shard_env::COUNT_VAR);
    assert_eq!(
        count["value"].as_str(),
        Some(replicas.to_string().as_str()),
        "{} must equal spec.replicas",
        shard_env::COUNT_VAR
    );

    let configmap = manifest("configmap.yaml");
    let text = get(&configmap, &["data", "mtasts-exporter.yml"])
        .as_str()
        .expect("config in the ConfigMap");
    let config = Config::parse(text).expect("the ConfigMap's config is valid");
    assert!(config.domains.len() >= replicas as usize);

    // Pod ordinals are 0..replicas; each pod resolves its shard as
    // Config::load does with the two variables set.
    let mut owner = BTreeMap::new();
    for ordinal in 0..replicas {
        let mut pod = config.clone();
        pod.shard =
            shard_env::resolve(config.shard, Some(ordinal), Some(replicas)).expect("a valid shard");
        for domain in pod.scheduled_domains() {
            if let Some(other) = owner.insert(domain.name.clone(), ordinal) {
                panic!("{} in pods {other} and {ordinal}", domain.name);
            }
        }
    }
    let all: Vec<_> = config.domains.iter().map(|d| d.name.clone()).collect();
    assert_eq!(owner.keys().cloned().collect::<Vec<_>>(), {
        let mut sorted = all.clone();
        sorted.sort();
        sorted
    });
    // One replica too many would own nothing: a pod ordinal past the count
    // is refused rather than silently probing nothing.
    assert!(shard_env::resolve(config.shard, Some(replicas), Some(replicas)).is_err());
}
