"""Files as Azure ML v1 writes them, for tests that read them."""

#: A run config as v1 (azureml-core 1.61) saves it, per ../shared/AZUREML_V1_WORKFLOWS.md §1.7:
#: camelCase keys, the default environment's conda file beside it (python 3.8.13 +
#: azureml-defaults, channels anaconda and conda-forge), every section present.
V1_RUNCONFIG = """\
script: train.py
arguments: [--data-folder, ./data, --reg, '0.5']
target: local
framework: Python
communicator: None
maxRunDurationSeconds:
nodeCount: 1
priority:
environment:
  name: Experiment sklearn-mnist Environment
  version: Autosave_2021-03-01T10:00:00Z_6e3f1d0e
  environmentVariables:
    EXAMPLE_ENV_VAR: EXAMPLE_VALUE
  python:
    userManagedDependencies: false
    interpreterPath: python
    condaDependenciesFile: .azureml/conda_dependencies.yml
    baseCondaEnvironment:
  docker:
    enabled: false
    baseImage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:20210301.v1
    platform:
      os: Linux
      architecture: amd64
    baseDockerfile:
    buildContext:
    baseImageRegistry:
      address:
      username:
      password:
  spark:
    repositories: []
    packages: []
    precachePackages: true
  databricks:
    mavenLibraries: []
    pypiLibraries: []
    rcranLibraries: []
    jarLibraries: []
    eggLibraries: []
  r:
  inferencingStackVersion:
history:
  outputCollection: true
  snapshotProject: true
  directoriesToWatch:
  - logs
spark:
  configuration:
    spark.app.name: Azure ML Experiment
    spark.yarn.maxAppAttempts: 1
docker:
  useDocker: false
  sharedVolumes: true
  arguments: []
  shmSize: 2g
hdi:
  yarnDeployMode: cluster
tensorflow:
  workerCount: 1
  parameterServerCount: 1
mpi:
  processCountPerNode: 1
  nodeCount: 1
pytorch:
  communicationBackend: nccl
  processCount:
  nodeCount: 1
paralleltask:
  maxRetriesPerWorker: 0
  workerCountPerNode: 1
  terminalExitCodes:
  configuration: {}
dataReferences: {}
data: {}
datacaches: []
outputData: {}
sourceDirectoryDataStore:
amlcompute:
  vmSize:
  vmPriority:
  retainCluster: false
  name:
  clusterMaxNodeCount:
kubernetescompute:
  instanceType:
credentialPassthrough: false
command: ''
environmentVariables: {}
applicationEndpoints: {}
"""
V1_CONDA = """\
# Conda environment specification. The dependencies defined in this file will
# be automatically provisioned for runs with userManagedDependencies=False.
name: project_environment
dependencies:
  # The python interpreter version.
- python=3.8.13
- pip:
  - azureml-defaults
channels:
- anaconda
- conda-forge
"""
