@lab-2.2 @needs-migration
Feature: Live migration
  Lab 2.2: a running VM moves from one node to another without being shut down. Live
  migration needs the VM's disks on ReadWriteMany storage, so that the source and the
  target node can mount them at the same time; each VM disk is its own volume, mounted
  only when needed.

  @step-1 @step-2 @step-3 @step-4
  Scenario: Migrate moves a running VM to another node and it returns to Running
    Given a running VM
    Then the Actions offered are: Stop, Restart, Pause, Migrate
    Given I note the VM's VMI, node and launcher pod
    When I migrate the VM
    Then the migrate request is accepted
    And the migration succeeds
    And the migration was reported in progress (Migrating) and the VM is Running again
    And the VMI runs on another node than before
    And the VMI's migration state is completed, not failed, from the old node to the new node
    And the VMI is the same instance, not restarted
    And the target launcher pod is Running on the new node and the source pod has ended

  @step-2 @needs-rwx @needs-rwo
  Scenario: Live migration requires ReadWriteMany storage
    Given a running VM with a ReadWriteOnce data volume
    Then the VMI is not live-migratable because its disks are not shared
    When I migrate the VM
    Then the migrate request is rejected
    And the VM stays Running on the same node
    When I stop the VM and move its data volume to ReadWriteMany storage
    And I start the VM
    Then the VM reaches Running
    And the VMI is live-migratable
    Given I note the VM's VMI, node and launcher pod
    When I migrate the VM
    Then the migration succeeds
    And the VMI runs on another node than before

  @step-2 @needs-rwx
  Scenario: Each VM disk is its own volume, mounted only when needed
    Given a stopped VM with a ReadWriteMany data volume
    Then no pod uses the VM's volume
    When I start the VM
    Then the VM reaches Running
    And only the VM's launcher pod uses the volume
    When I migrate the VM
    Then the migration succeeds
    And during the migration the source and target launcher pods used the volume at the same time
    When I stop the VM
    Then the VM reaches Stopped
    And no pod uses the VM's volume
