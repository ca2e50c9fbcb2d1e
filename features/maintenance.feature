@lab-2.2-maintenance @needs-migration @needs-eviction
Feature: Node maintenance
  Lab 2.2: live migration is how a node is maintained without stopping its VMs. Draining a node
  (kubectl drain, the descheduler, an upgrade) evicts the VMs' launcher pods; KubeVirt answers each
  eviction by the VM's eviction strategy: LiveMigrate refuses it and live-migrates the VM away
  instead, and a VM whose disks cannot move is never evicted; LiveMigrateIfPossible lets such a VM
  be evicted, and its run strategy starts it again.

  @step-1
  Scenario: Evicting the launcher pod of a LiveMigrate VM live-migrates the VM instead
    Given a running VM with eviction strategy LiveMigrate
    And I note the VM's VMI, node and launcher pod
    When I evict the VM's launcher pod
    Then the eviction is refused with 429 and the VM is marked for evacuation
    And the VM is live-migrated to another node and is Running
    And the VMI runs on another node than before
    And the VMI is the same instance, not restarted
    And the VMI is no longer marked for evacuation

  @step-2 @needs-rwo
  Scenario: A LiveMigrate VM whose disks cannot move is never evicted
    Given a running VM with a ReadWriteOnce data volume and eviction strategy LiveMigrate
    And I note the VM's VMI, node and launcher pod
    When I evict the VM's launcher pod
    Then the eviction is refused with 429 because the VM is not live-migratable
    And the VM stays Running on the same node
    And the VMI is the same instance, not restarted

  @step-2 @needs-rwo
  Scenario: With LiveMigrateIfPossible a VM whose disks cannot move is evicted and restarts
    Given a running VM with a ReadWriteOnce data volume and eviction strategy LiveMigrateIfPossible
    And I note the VM's VMI, node and launcher pod
    When I evict the VM's launcher pod
    Then the eviction is granted
    And the VM is restarted as a new VMI that runs again

  @step-3 @needs-disruptive
  Scenario: Draining a node moves its VMs away within the migration limits
    Given more running LiveMigrate VMs on one node than it may migrate at once
    When I cordon their node and drain the scenario's pods from it
    Then every VM left the node by live migration and runs elsewhere as the same VMI
    And at most the per-node outbound migration limit migrated at once
    When I uncordon the node
    Then the node is schedulable again and carries no mark of the run
