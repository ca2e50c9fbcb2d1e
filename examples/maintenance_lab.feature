@lab-3.1
Feature: Node maintenance drill
  An example of a lab written with vmconform's step vocabulary (not part of the VM-management
  lab): before a worker node goes into maintenance its VMs move away without a reboot; a VM that
  can wait is paused, then stopped and started again afterwards. Run it with
  `vmconform run --features examples/`.

  Background:
    Given a running VM

  @step-1 @needs-migration
  Scenario: A VM leaves its node for maintenance without a reboot
    Given I note the VM's VMI, node and launcher pod
    When I migrate the VM
    Then the migrate request is accepted
    And the migration succeeds
    And the VMI runs on another node than before
    And the VMI is the same instance, not restarted

  @step-2
  Scenario: A paused VM is stopped for the maintenance and comes back
    When I pause the VM
    Then within 1 minute the VM is Paused
    When I stop the VM
    Then the stop is accepted
    And within 5 minutes the VM is Stopped
    And the VM has no VMI and no launcher pod
    When I start the VM
    Then within 6 minutes the VM is Running
    And the VM becomes Ready

  @step-3
  Scenario Outline: A stopped VM refuses to <action>
    Given the VM is stopped
    When I <action> the VM
    Then the <action> is rejected with <code> "<message>"
    And the VM stays Stopped with no VMI

    Examples:
      | action  | code | message                                                    |
      | restart | 409  | RunStategy Halted does not support manual restart requests |
      | stop    | 409  | VM is not running                                          |

  # KubeVirt answers a pause two ways right after a stop: 409 while the final VMI still exists,
  # 404 once it is gone (kubevirt-semantics.md §10 W4); either is right.
  @step-3
  Scenario: A stopped VM refuses to pause
    Given the VM is stopped
    When I pause the VM
    Then the pause is rejected with 404 "not found" or 409 "VM is not running"
    And the VM stays Stopped with no VMI
